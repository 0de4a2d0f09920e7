package main

import (
	"encoding/json"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
)

// Case is one admission as both sides see it: what the webhook is started with (its command
// line, the pod-identity-webhook ConfigMap, the container-credentials identities file), the
// ServiceAccount the API server holds, and the Pod being created. A case file (`-replay FILE`)
// is this struct as JSON.
type Case struct {
	// Name says where the case came from: the generator's seed and index, or a fixture's file.
	Name string `json:"name"`
	// Flags are the webhook's command-line flags, as its main.go reads them.
	Flags []string `json:"flags"`
	// ConfigMap is the `config` key of the pod-identity-webhook ConfigMap, delivered when the
	// flags say --watch-config-map.
	ConfigMap string `json:"configMap,omitempty"`
	// Identities is the content of the --watch-container-credentials-config file.
	Identities json.RawMessage `json:"identities,omitempty"`
	// ServiceAccount is what the API server holds; nil when the ServiceAccount does not exist.
	ServiceAccount *corev1.ServiceAccount `json:"serviceAccount,omitempty"`
	// Namespace is request.namespace.
	Namespace string `json:"namespace"`
	// UID is request.uid (the policy's Pod Identity spread is derived from it).
	UID string `json:"uid"`
	// Pod is request.object, kept as a generic value: the generator writes shapes the typed Pod
	// would normalise away before either side sees them.
	Pod map[string]any `json:"pod"`
	// Difference is what the run saw when it wrote the case out (not read back).
	Difference string `json:"difference,omitempty"`
}

func (c *Case) clone() *Case {
	data, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("a case that does not marshal: %v", err))
	}
	var out Case
	if err := json.Unmarshal(data, &out); err != nil {
		panic(fmt.Sprintf("a case that does not unmarshal: %v", err))
	}
	return &out
}

func (c *Case) podBytes() []byte {
	data, err := json.Marshal(c.Pod)
	if err != nil {
		panic(fmt.Sprintf("a Pod that does not marshal: %v", err))
	}
	return data
}

func loadCase(path string) (*Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Case
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &c, nil
}

func saveCase(path string, c *Case) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// Generic access to the Pod's JSON, for the generator, the classes and the shrinker.

func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

func list(m map[string]any, key string) []any {
	v, _ := m[key].([]any)
	return v
}

func str(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return v
}

// ensure returns m[key] as an object, creating it when absent.
func ensure(m map[string]any, key string) map[string]any {
	if v, ok := m[key].(map[string]any); ok {
		return v
	}
	v := map[string]any{}
	m[key] = v
	return v
}
