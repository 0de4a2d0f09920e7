package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The webhook's own fixtures (pkg/handler/testdata): each Pod carries, in annotations, how its
// test configures the webhook and the patch the webhook must answer (handler_pod_test.go). Each
// runs through the policy configured the same way, and the policy's Pod must be the Pod that
// expected patch gives, but for the documented classes.

const fixtureKey = "testing.eks.amazonaws.com/"

// RunFixtures returns how many fixtures ran, the classes they showed, and the failures.
func RunFixtures(o *Oracle, webhookDir string) (int, map[string]int, []string, error) {
	root := filepath.Join(webhookDir, "pkg", "handler", "testdata")
	var files []string
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		return 0, nil, nil, err
	}
	sort.Strings(files)
	classes := map[string]int{}
	var failures []string
	ran := 0
	for _, path := range files {
		name, _ := filepath.Rel(root, path)
		c, expected, skip, err := fixtureCase(path)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if skip {
			continue
		}
		ran++
		found, problem := o.checkFixture(c, expected)
		if problem != "" {
			failures = append(failures, fmt.Sprintf("%s: %s", name, problem))
			continue
		}
		for _, class := range found {
			classes[class]++
		}
	}
	return ran, classes, failures, nil
}

// fixtureCase configures the case as buildModifierFromPod does: the handler's mount path and
// region, a ServiceAccount default/default with the annotated values, container credentials for
// default/default; the Pod in namespace default with ServiceAccount default.
func fixtureCase(path string) (*Case, map[string]any, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, false, err
	}
	raw, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, false, err
	}
	var pod map[string]any
	if err := json.Unmarshal(raw, &pod); err != nil {
		return nil, nil, false, err
	}
	annotations := map[string]string{}
	for k, v := range obj(obj(pod, "metadata"), "annotations") {
		if s, ok := v.(string); ok {
			annotations[k] = s
		}
	}
	if skip, _ := strconv.ParseBool(annotations[fixtureKey+"skip"]); skip {
		return nil, nil, true, nil
	}
	ensure(pod, "metadata")["namespace"] = "default"
	ensure(pod, "spec")["serviceAccountName"] = "default"
	c := &Case{Name: filepath.Base(path), Namespace: "default", UID: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", Pod: pod}
	if v, ok := annotations[fixtureKey+"handler/mountPath"]; ok {
		c.Flags = append(c.Flags, "--token-mount-path="+v)
	}
	if v, ok := annotations[fixtureKey+"handler/region"]; ok {
		c.Flags = append(c.Flags, "--aws-default-region="+v)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default", Annotations: map[string]string{}}}
	copyFirst := func(to string, from ...string) {
		for _, key := range from {
			if v, ok := annotations[fixtureKey+key]; ok {
				sa.Annotations["eks.amazonaws.com/"+to] = v
				return
			}
		}
	}
	copyFirst("role-arn", "serviceAccount/roleArn")
	copyFirst("audience", "serviceAccount/audience")
	copyFirst("sts-regional-endpoints", "serviceAccount/sts-regional-endpoints", "handler/injectSTS")
	copyFirst("token-expiration", "serviceAccount/token-expiration", "handler/expiration")
	c.ServiceAccount = sa
	if uri := annotations[fixtureKey+"containercredentials/uri"]; uri != "" {
		c.Flags = append(c.Flags,
			"--watch-container-credentials-config=/etc/webhook/identities.json",
			"--container-credentials-full-uri="+uri,
			"--container-credentials-audience="+annotations[fixtureKey+"containercredentials/audience"],
			"--container-credentials-token-mount-path="+annotations[fixtureKey+"containercredentials/mountPath"],
			"--container-credentials-token-volume-name="+annotations[fixtureKey+"containercredentials/volumeName"],
			"--container-credentials-token-path="+annotations[fixtureKey+"containercredentials/tokenPath"])
		c.Identities = json.RawMessage(`{"identities":[{"namespace":"default","serviceAccount":"default"}]}`)
	}
	var expected map[string]any
	if patch, ok := annotations[fixtureKey+"expectedPatch"]; ok {
		decoded, err := jsonpatch.DecodePatch([]byte(patch))
		if err != nil {
			return nil, nil, false, fmt.Errorf("expected patch: %v", err)
		}
		patched, err := decoded.Apply(c.podBytes())
		if err != nil {
			return nil, nil, false, fmt.Errorf("expected patch: %v", err)
		}
		if expected, err = Canonical(patched); err != nil {
			return nil, nil, false, err
		}
	} else {
		expected = mustCanonical(c)
	}
	return c, expected, false, nil
}

// checkFixture compares the policy's Pod with the expected one. The fixtures' container
// credentials URI ("con-creds-uri") is not a URL, which the policy's settings refuse: such a
// fixture runs with http://con-creds-uri/ in both the settings and the expected Pod.
func (o *Oracle) checkFixture(c *Case, expected map[string]any) ([]string, string) {
	var classes []string
	settings, err := o.Settings(WebhookConfig{Flags: c.Flags, ConfigMap: c.ConfigMap, Identities: c.Identities})
	if err != nil {
		return nil, err.Error()
	}
	f, _ := ParseWebhookFlags(c.Flags)
	if cc, ok := settings["containerCredentials"].(map[string]any); ok && !strings.Contains(f.CCFullURI, "://") {
		url := "http://" + f.CCFullURI + "/"
		cc["fullUri"] = url
		replaceEnv(expected, "AWS_CONTAINER_CREDENTIALS_FULL_URI", f.CCFullURI, url)
		classes = append(classes, "settings-refuse-non-url-full-uri")
	}
	policy, err := o.Engine.Evaluate(c, settings)
	if err != nil {
		return nil, err.Error()
	}
	changed := !reflect.DeepEqual(expected, mustCanonical(c))
	// The fixtures' rand always draws 0: a jittered lifetime is 79200.
	if theirs, ok := tokenExpiration(expected, f.CCVolumeName); ok && theirs == pkg79200 {
		if ours, ok := tokenExpiration(policy.Pod, f.CCVolumeName); ok && ours >= pkg79200 && ours <= 86400 && ours != theirs {
			setTokenExpiration(expected, f.CCVolumeName, ours)
			classes = append(classes, jitterClass.Name)
		}
	}
	if !policy.Allowed || policy.Patched != changed || !reflect.DeepEqual(expected, policy.Pod) {
		var paths []string
		diffPaths(expected, policy.Pod, "", &paths)
		return nil, fmt.Sprintf("allowed=%t patch=%t (expected a change: %t)\n  %s", policy.Allowed, policy.Patched, changed, strings.Join(paths, "\n  "))
	}
	return classes, ""
}

func replaceEnv(pod map[string]any, name, from, to string) {
	for _, kind := range []string{"initContainers", "containers"} {
		for _, item := range list(obj(pod, "spec"), kind) {
			for _, e := range list(item.(map[string]any), "env") {
				env := e.(map[string]any)
				if str(env, "name") == name && str(env, "value") == from {
					env["value"] = to
				}
			}
		}
	}
}
