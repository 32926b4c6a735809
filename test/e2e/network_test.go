package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/node/network"
)

// echoServer is a pod template answering its hostname on port 8080.
const echoServer = `import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(socket.gethostname().encode())
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()`

func echoManifest() string {
	indented := "          " + strings.ReplaceAll(echoServer, "\n", "\n          ")
	return `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: echo}
spec:
  serviceName: echo-pods
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: echo
        image: python:3.6
        command:
        - python3
        - -c
        - |
` + indented + `
        ports: [{name: web, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: web}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo-pods}
spec:
  clusterIP: None
  selector: {app: echo}
  ports: [{name: web, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-sticky}
spec:
  selector: {app: echo}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: web}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-np}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{port: 80, targetPort: web}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-misnamed}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostport}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: python:3.6
    command: ["python3", "-m", "http.server", "8080"]
    ports: [{containerPort: 8080, hostPort: 18431}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`
}

// TestPodNetwork covers what pods see of the network: their own
// addresses, Services of every kind, the cluster DNS, and what skiff
// leaves on the host (nothing, after down or a crash).
func TestPodNetwork(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	in.apply(t, echoManifest())
	in.mustKubectl("rollout", "status", "statefulset/echo", "--timeout=2m")
	in.mustKubectl("wait", "--for=condition=Ready", "pod/hostport", "--timeout=1m")
	nodeIP := in.jsonpath("get", "nodes", "-o", `jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}`)
	nodePort := in.jsonpath("get", "service", "echo-np", "-o", "jsonpath={.spec.ports[0].nodePort}")

	// From a pod: headless records, a StatefulSet pod's own name,
	// session affinity, the API through the kubernetes Service, and the
	// node's address.
	script := strings.Join([]string{
		"getent hosts echo-pods.default.svc.cluster.local | sort",
		"echo echo-0: $(getent hosts echo-0.echo-pods | cut -d' ' -f1)",
		"for i in $(seq 10); do curl -s http://echo-sticky/; echo; done | sort | uniq -c",
		"curl -s -o /dev/null -w 'api %{http_code}\\n' --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt " +
			"-H \"Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)\" https://kubernetes.default.svc/version",
		"echo self: $(curl -s http://echo-sticky/)",
		"echo node: $(curl -s http://" + nodeIP + ":" + nodePort + "/)",
	}, "; ")
	in.mustKubectl("run", "probe", "--image=python:3.6", "--restart=Never", "--command", "--", "sh", "-c", script)
	in.waitPhase(t, "probe", "Succeeded")
	out := in.mustKubectl("logs", "probe")
	t.Logf("from a pod:\n%s", out)
	ips := strings.Fields(in.jsonpath("get", "pods", "-l", "app=echo", "-o", "jsonpath={.items[*].status.podIP}"))
	echo0 := in.jsonpath("get", "pod", "echo-0", "-o", "jsonpath={.status.podIP}")
	for _, want := range append(ips, "echo-0: "+echo0, "api 200", "node: echo-") {
		if !strings.Contains(out, want) {
			t.Errorf("probe pod output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "10 echo-") {
		t.Errorf("sessionAffinity ClientIP: ten requests from one client should reach one replica:\n%s", out)
	}

	// Hairpin: a pod reaches itself through its own Service.
	hairpin := in.mustKubectl("exec", "echo-0", "--", "python3", "-c",
		"import urllib.request; print([urllib.request.urlopen('http://echo-pods:8080/', timeout=3).read().decode() for _ in range(6)])")
	if !strings.Contains(hairpin, "echo-0") {
		t.Errorf("echo-0 through its headless Service: %s", hairpin)
	}
	sticky := in.jsonpath("get", "service", "echo-sticky", "-o", "jsonpath={.spec.clusterIP}")
	selfOut := in.mustKubectl("exec", "echo-1", "--", "python3", "-c",
		"import urllib.request; print(set(urllib.request.urlopen('http://"+sticky+"/', timeout=3).read().decode() for _ in range(6)))")
	if !strings.Contains(selfOut, "echo-") {
		t.Errorf("echo-1 through the ClusterIP: %s", selfOut)
	}

	// From the host: ClusterIP, NodePort on the node's address and
	// localhost, the host port.
	for _, url := range []string{"http://" + sticky + "/", "http://" + nodeIP + ":" + nodePort + "/", "http://127.0.0.1:" + nodePort + "/", "http://" + nodeIP + ":18431/"} {
		resp, err := httpClient.Get(url)
		if err != nil {
			t.Errorf("GET %s from the host: %v", url, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s from the host: %s", url, resp.Status)
		}
	}

	// A named targetPort the pods do not declare is said on the Service.
	in.waitEvent(t, "kind=Service,involvedObject.name=echo-misnamed", "TargetPortNotFound",
		`targetPort "http" (port 80) matches no named containerPort of the 2 pod(s) this Service selects (app=echo)`)

	// A host-network pod shares the node's address.
	in.mustKubectl("run", "hostnet", "--image=python:3.6", "--restart=Never", "--overrides", `{"spec":{"hostNetwork":true}}`, "--command", "--", "true")
	in.waitPhase(t, "hostnet", "Succeeded")
	if ip := in.jsonpath("get", "pod", "hostnet", "-o", "jsonpath={.status.podIP}"); ip != nodeIP {
		t.Errorf("host-network pod IP %q, want the node's %s", ip, nodeIP)
	}

	// Nothing of skiff's stays on the host after down, or after a crash
	// and down.
	in.down()
	in.assertNoNetworkLeft(t)
	assertNoKubeProxyTable(t)
	in.up("--write-kubeconfig=false")
	in.waitJSONPath(t, 2*time.Minute, "2", "get", "statefulset", "echo", "-o", "jsonpath={.status.readyReplicas}")
	in.forceKill()
	in.down()
	in.assertNoNetworkLeft(t)
	assertNoKubeProxyTable(t)
}

// assertNoKubeProxyTable checks that kube-proxy's (machine-wide) table is
// gone with the skiff that ran it.
func assertNoKubeProxyTable(t *testing.T) {
	t.Helper()
	if tables, _ := exec.Command("nft", "list", "tables").Output(); strings.Contains(string(tables), "ip kube-proxy\n") {
		t.Errorf("nftables table kube-proxy left:\n%s", tables)
	}
}

// assertNoNetworkLeft checks for the instance's bridge and pod links,
// its nftables tables, routes and pod namespaces. (Only its own: unit
// tests may run beside it with links of their own.)
func (in *instance) assertNoNetworkLeft(t *testing.T) {
	t.Helper()
	id := datadir.InstanceID(in.dataDir)
	bridge := network.BridgeName(id)
	links, _ := exec.Command("ip", "-d", "link").Output()
	if strings.Contains(string(links), bridge) {
		t.Errorf("bridge %s or links on it left:\n%s", bridge, links)
	}
	tables, _ := exec.Command("nft", "list", "tables").Output()
	if name := "ip " + network.TableName(id) + "\n"; strings.Contains(string(tables), name) {
		t.Errorf("nftables table %q left:\n%s", name, tables)
	}
	routes, _ := exec.Command("ip", "route").Output()
	if strings.Contains(string(routes), bridge) {
		t.Errorf("route left:\n%s", routes)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, m := range strings.Split(string(mounts), "\n") {
		if strings.Contains(m, in.dataDir) {
			t.Errorf("mount left: %s", m)
		}
	}
}
