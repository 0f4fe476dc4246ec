package deploy

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/s3kms/s3kms/internal/config"
)

// kustomization is the part of kustomization.yaml we use; decoding it
// strictly catches a field kustomize would read differently.
type kustomization struct {
	APIVersion         string   `json:"apiVersion"`
	Kind               string   `json:"kind"`
	Namespace          string   `json:"namespace"`
	Resources          []string `json:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests are the typed objects of a set of YAML documents.
type manifests struct {
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	pdbs         []*policyv1.PodDisruptionBudget
	secrets      map[string]*corev1.Secret
	configMaps   map[string]*corev1.ConfigMap
	pvcs         map[string]*corev1.PersistentVolumeClaim
	namespaces   int
}

// decodeStrict decodes every document of data into its k8s.io/api type;
// an unknown kind or field is an error.
func (m *manifests) decodeStrict(t *testing.T, name string, data []byte) {
	t.Helper()
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(stripYAMLComments(doc))) == 0 {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s #%d: %v", name, i, err)
		}
		var obj any
		switch meta.APIVersion + "/" + meta.Kind {
		case "apps/v1/Deployment":
			d := &appsv1.Deployment{}
			m.deployments, obj = append(m.deployments, d), d
		case "apps/v1/StatefulSet":
			s := &appsv1.StatefulSet{}
			m.statefulSets, obj = append(m.statefulSets, s), s
		case "v1/Service":
			s := &corev1.Service{}
			m.services, obj = append(m.services, s), s
		case "policy/v1/PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			m.pdbs, obj = append(m.pdbs, p), p
		case "v1/Secret":
			obj = &corev1.Secret{}
		case "v1/ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1/PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		case "v1/Namespace":
			m.namespaces++
			obj = &corev1.Namespace{}
		default:
			t.Fatalf("%s #%d: kind %s/%s is not checked by this test", name, i, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s #%d (%s): %v", name, i, meta.Kind, err)
		}
		switch o := obj.(type) {
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.PersistentVolumeClaim:
			m.pvcs[o.Name] = o
		}
	}
}

func newManifests() *manifests {
	return &manifests{secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}, pvcs: map[string]*corev1.PersistentVolumeClaim{}}
}

func stripYAMLComments(doc []byte) []byte { return []byte(stripComments(string(doc))) }

// TestKubernetes decodes every manifest of k8s/ strictly into the typed
// k8s.io/api objects and checks the invariants a deployment relies on;
// then, if kubectl is installed, does the same on `kubectl kustomize`'s
// output (kubectl needs no API server for it).
func TestKubernetes(t *testing.T) {
	var k kustomization
	if err := yaml.UnmarshalStrict(readFile(t, "k8s/kustomization.yaml"), &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	m := newManifests()
	for _, r := range k.Resources {
		m.decodeStrict(t, r, readFile(t, filepath.Join("k8s", r)))
	}
	secrets := newManifests()
	secrets.decodeStrict(t, "secrets.example.yaml", readFile(t, "k8s/secrets.example.yaml"))
	for _, s := range secrets.secrets {
		for key, v := range s.StringData {
			if !strings.HasPrefix(v, "REPLACE_ME") && !strings.Contains(v, "REPLACE_ME@") {
				t.Errorf("secrets.example.yaml: %s/%s holds a value, not a placeholder", s.Name, key)
			}
		}
	}
	// Generated ConfigMaps: their files, by name.
	generated := map[string]map[string]string{}
	for _, g := range k.ConfigMapGenerator {
		generated[g.Name] = map[string]string{}
		for _, f := range g.Files {
			generated[g.Name][filepath.Base(f)] = filepath.Join("k8s", f)
			if _, err := os.Stat(filepath.Join("k8s", f)); err != nil {
				t.Error(err)
			}
		}
	}
	for _, img := range k.Images {
		if img.NewTag == "" || img.NewTag == "latest" {
			t.Errorf("images: %s is not pinned to a tag", img.Name)
		}
	}
	if m.namespaces != 1 || k.Namespace == "" {
		t.Errorf("want one Namespace and kustomization namespace, got %d and %q", m.namespaces, k.Namespace)
	}
	checkCluster(t, m, secrets.secrets, generated)

	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not installed: `kubectl kustomize` output not checked (not required; Debian's kubernetes-client is too old)")
		return
	}
	out, err := exec.Command(kubectl, "kustomize", "k8s").Output()
	if err != nil {
		t.Fatalf("kubectl kustomize k8s: %v", err)
	}
	built := newManifests()
	built.decodeStrict(t, "kubectl kustomize", out)
	if len(built.configMaps) != len(k.ConfigMapGenerator) {
		t.Errorf("kustomize made %d ConfigMaps, want %d", len(built.configMaps), len(k.ConfigMapGenerator))
	}
	for _, w := range workloads(built) {
		for _, v := range w.pod.Volumes {
			if v.ConfigMap != nil && built.configMaps[v.ConfigMap.Name] == nil {
				t.Errorf("kustomize output: %s mounts ConfigMap %s, which it does not define", w.name, v.ConfigMap.Name)
			}
		}
		for _, c := range w.pod.Containers {
			if !strings.HasPrefix(c.Image, k.Images[0].NewName) && !strings.HasPrefix(c.Image, "postgres:") {
				t.Errorf("kustomize output: %s runs %s, not the images: override", w.name, c.Image)
			}
		}
	}
}

type workload struct {
	name     string
	replicas int32
	selector map[string]string
	pod      corev1.PodSpec
	labels   map[string]string
}

func workloads(m *manifests) []workload {
	var ws []workload
	for _, d := range m.deployments {
		ws = append(ws, workload{"Deployment " + d.Name, *d.Spec.Replicas, d.Spec.Selector.MatchLabels, d.Spec.Template.Spec, d.Spec.Template.Labels})
	}
	for _, s := range m.statefulSets {
		ws = append(ws, workload{"StatefulSet " + s.Name, *s.Spec.Replicas, s.Spec.Selector.MatchLabels, s.Spec.Template.Spec, s.Spec.Template.Labels})
	}
	return ws
}

// checkCluster checks the invariants of the s3kms manifests.
func checkCluster(t *testing.T, m *manifests, secrets map[string]*corev1.Secret, generated map[string]map[string]string) {
	ws := workloads(m)
	byName := map[string]workload{}
	for _, w := range ws {
		byName[w.name] = w
		if !labels.SelectorFromSet(w.selector).Matches(labels.Set(w.labels)) || len(w.selector) == 0 {
			t.Errorf("%s: selector %v does not match its pod labels %v", w.name, w.selector, w.labels)
		}
		checkPod(t, w, secrets, generated, m.pvcs)
	}
	for _, name := range []string{"Deployment kms", "Deployment s3"} {
		if w, ok := byName[name]; !ok || w.replicas < 2 {
			t.Errorf("%s: missing or fewer than 2 replicas", name)
		}
	}
	for _, s := range m.services {
		var target *workload
		for i := range ws {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(ws[i].labels)) {
				target = &ws[i]
			}
		}
		if target == nil {
			t.Errorf("Service %s selects no workload", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			if containerPort(target.pod, p.TargetPort.String()) == 0 {
				t.Errorf("Service %s: targetPort %s is no container port of %s", s.Name, p.TargetPort.String(), target.name)
			}
		}
	}
	for _, p := range m.pdbs {
		var ok bool
		for _, w := range ws {
			ok = ok || labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(labels.Set(w.labels)) && w.replicas > 1
		}
		if !ok {
			t.Errorf("PodDisruptionBudget %s covers no replicated workload", p.Name)
		}
	}
	for _, name := range []string{"kms", "s3"} {
		if !slices.ContainsFunc(m.pdbs, func(p *policyv1.PodDisruptionBudget) bool { return p.Name == name }) {
			t.Errorf("no PodDisruptionBudget for %s", name)
		}
	}
	if pvc := m.pvcs["s3kms-data"]; pvc == nil || !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
		t.Errorf("the S3 nodes' data volume must be a ReadWriteMany PersistentVolumeClaim s3kms-data")
	}

	// The configurations: ports the containers declare, files under the
	// containers' mounts, and the KMS endpoint the nodes use.
	dummyEnv(t)
	kmsCfg, err := config.LoadKMS(generated["s3kms-config"]["kms.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	s3Cfg, err := config.LoadS3(generated["s3kms-config"]["s3.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	kmsPod, s3Pod := byName["Deployment kms"].pod, byName["Deployment s3"].pod
	checkListen(t, "kms", kmsCfg.Listen, kmsPod)
	checkListen(t, "s3", s3Cfg.Listen, s3Pod)
	files := []string{kmsCfg.TLS.Cert, kmsCfg.TLS.Key, kmsCfg.TLS.ClientCA, kmsCfg.Protector.MasterKeyFile}
	for _, p := range kmsCfg.Policies {
		files = append(files, p.IdentityCerts...)
	}
	checkFiles(t, kmsPod, secrets, generated, files)
	checkFiles(t, s3Pod, secrets, generated, []string{s3Cfg.TLS.Cert, s3Cfg.TLS.Key, s3Cfg.KMS.CAFile, s3Cfg.KMS.Cert, s3Cfg.KMS.Key})
	if !mounted(s3Pod.Containers[0], s3Cfg.DataDir) {
		t.Errorf("s3: data_dir %s is not on a mounted volume", s3Cfg.DataDir)
	}
	u, err := url.Parse(s3Cfg.KMS.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range m.services {
		for _, p := range s.Spec.Ports {
			found = found || s.Name == u.Hostname() && strconv.Itoa(int(p.Port)) == u.Port()
		}
	}
	if !found {
		t.Errorf("s3: kms.endpoint %s is no Service name and port", s3Cfg.KMS.Endpoint)
	}
}

// checkPod checks one pod template: security contexts, probes, resources,
// pinned images, a grace period above shutdown_timeout, and volumes that
// exist.
func checkPod(t *testing.T, w workload, secrets map[string]*corev1.Secret, generated map[string]map[string]string, pvcs map[string]*corev1.PersistentVolumeClaim) {
	t.Helper()
	p := w.pod
	sc := p.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext needs runAsNonRoot and seccompProfile RuntimeDefault", w.name)
	}
	if g := p.TerminationGracePeriodSeconds; g == nil || float64(*g) <= shutdownTimeout.Seconds() {
		t.Errorf("%s: terminationGracePeriodSeconds must exceed shutdown_timeout %v", w.name, shutdownTimeout)
	}
	if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken should be false (no API access needed)", w.name)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range p.Volumes {
		volumes[v.Name] = v
		switch {
		case v.Secret != nil && secrets[v.Secret.SecretName] == nil:
			t.Errorf("%s: volume %s: Secret %s is not in secrets.example.yaml", w.name, v.Name, v.Secret.SecretName)
		case v.ConfigMap != nil && generated[v.ConfigMap.Name] == nil:
			t.Errorf("%s: volume %s: ConfigMap %s is not generated", w.name, v.Name, v.ConfigMap.Name)
		case v.PersistentVolumeClaim != nil && pvcs[v.PersistentVolumeClaim.ClaimName] == nil:
			t.Errorf("%s: volume %s: no PersistentVolumeClaim %s", w.name, v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	for _, c := range p.Containers {
		name := w.name + "/" + c.Name
		if !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
			t.Errorf("%s: image %q is not pinned to a tag", name, c.Image)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s: needs liveness and readiness probes", name)
		}
		for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			if pr != nil && pr.HTTPGet != nil {
				if pr.HTTPGet.Scheme != corev1.URISchemeHTTPS || containerPort(p, pr.HTTPGet.Port.String()) == 0 {
					t.Errorf("%s: probe %s must be HTTPS on a declared port (%s)", name, pr.HTTPGet.Path, pr.HTTPGet.Port.String())
				}
			}
		}
		r := c.Resources
		if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
			t.Errorf("%s: needs cpu and memory requests and a memory limit", name)
		}
		cs := c.SecurityContext
		if cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
			cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
			cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL") {
			t.Errorf("%s: securityContext needs allowPrivilegeEscalation false, readOnlyRootFilesystem, drop ALL", name)
		}
		for _, vm := range c.VolumeMounts {
			if _, ok := volumes[vm.Name]; !ok && !slices.ContainsFunc(claimTemplates(w), func(n string) bool { return n == vm.Name }) {
				t.Errorf("%s: mount %s names no volume", name, vm.Name)
			}
		}
	}
}

// claimTemplates is not tracked per workload: a StatefulSet's mounts of
// its claim templates are accepted by name.
func claimTemplates(w workload) []string {
	if strings.HasPrefix(w.name, "StatefulSet ") {
		return []string{"pgdata"}
	}
	return nil
}

// containerPort returns the port named or numbered port of the pod's
// containers, or 0.
func containerPort(p corev1.PodSpec, port string) int32 {
	for _, c := range p.Containers {
		for _, cp := range c.Ports {
			if cp.Name == port || strconv.Itoa(int(cp.ContainerPort)) == port {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

func checkListen(t *testing.T, name, listen string, p corev1.PodSpec) {
	t.Helper()
	_, port, err := net.SplitHostPort(listen)
	if err != nil || containerPort(p, port) == 0 {
		t.Errorf("%s: listen %s: port is not a container port (%v)", name, listen, err)
	}
}

// mounted reports whether path lies under one of c's mounts.
func mounted(c corev1.Container, path string) bool {
	for _, vm := range c.VolumeMounts {
		if path == vm.MountPath || strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

// checkFiles checks that every file a configuration names is a key of
// the Secret or ConfigMap mounted on its directory.
func checkFiles(t *testing.T, p corev1.PodSpec, secrets map[string]*corev1.Secret, generated map[string]map[string]string, files []string) {
	t.Helper()
	c := p.Containers[0]
	for _, f := range files {
		var ok bool
		for _, vm := range c.VolumeMounts {
			if filepath.Dir(f) != vm.MountPath {
				continue
			}
			for _, v := range p.Volumes {
				switch {
				case v.Name != vm.Name:
				case v.Secret != nil && secrets[v.Secret.SecretName] != nil:
					_, ok = secrets[v.Secret.SecretName].StringData[filepath.Base(f)]
				case v.ConfigMap != nil:
					_, ok = generated[v.ConfigMap.Name][filepath.Base(f)]
				}
			}
		}
		if !ok {
			t.Errorf("%s: %s is in no mounted Secret or ConfigMap key", c.Name, f)
		}
	}
	if cfg := c.Args[len(c.Args)-1]; !mounted(c, cfg) {
		t.Errorf("%s: --config %s is not on a mount", c.Name, cfg)
	}
}
