package metricsapi

import (
	"strings"

	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/kube-openapi/pkg/common"
	"sigs.k8s.io/metrics-server/pkg/api"
	generatedopenapi "sigs.k8s.io/metrics-server/pkg/api/generated/openapi"
)

// definitions are metrics-server's OpenAPI definitions under both spellings
// of each name: its generated code (v0.8.0, built on Kubernetes 1.33 code)
// keys them by Go path ("k8s.io/metrics/pkg/apis/metrics/v1beta1.PodMetrics"),
// while the 1.37 libraries skiff runs name models in reverse-domain form
// ("io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics").
func definitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	defs := generatedopenapi.GetOpenAPIDefinitions(ref)
	out := make(map[string]common.OpenAPIDefinition, 2*len(defs))
	for name, d := range defs {
		out[name] = d
		out[modelName(name)] = d
	}
	return out
}

// modelName turns "k8s.io/a/b.T" into "io.k8s.a.b.T".
func modelName(goPath string) string {
	host, rest, ok := strings.Cut(goPath, "/")
	if !ok {
		return goPath
	}
	parts := strings.Split(host, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".") + "." + strings.ReplaceAll(rest, "/", ".")
}

// fixOpenAPI points the server's OpenAPI configs at definitions.
func fixOpenAPI(c *genericapiserver.Config) {
	namer := openapinamer.NewDefinitionNamer(api.Scheme)
	v2 := genericapiserver.DefaultOpenAPIConfig(definitions, namer)
	v2.Info = c.OpenAPIConfig.Info
	v3 := genericapiserver.DefaultOpenAPIV3Config(definitions, namer)
	v3.Info = c.OpenAPIV3Config.Info
	c.OpenAPIConfig, c.OpenAPIV3Config = v2, v3
}
