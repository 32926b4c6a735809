package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of these kinds.
var GroupVersion = schema.GroupVersion{Group: "ml.skiff.dev", Version: "v1alpha1"}

var (
	// SchemeBuilder registers the kinds with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ModelService{}, &ModelServiceList{},
		&Experiment{}, &ExperimentList{}, &Trial{}, &TrialList{},
		&Model{}, &ModelList{}, &ModelVersion{}, &ModelVersionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
