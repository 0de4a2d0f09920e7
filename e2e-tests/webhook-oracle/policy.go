package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
)

// Engine evaluates a case with the policy module, the way Kubewarden runs it.
type Engine interface {
	Evaluate(c *Case, settings map[string]any) (Outcome, error)
	Close()
}

// admissionReview is the request kwctl and policy-host read: the AdmissionReview the API server
// would send for the case's Pod.
func admissionReview(c *Case) map[string]any {
	return map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       c.UID,
			"kind":      map[string]any{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]any{"group": "", "version": "v1", "resource": "pods"},
			"name":      str(obj(c.Pod, "metadata"), "name"),
			"namespace": c.Namespace,
			"operation": "CREATE",
			"userInfo":  map[string]any{"username": "kubernetes-admin"},
			"object":    c.Pod,
		},
	}
}

// policySAName is the ServiceAccount the policy reads: spec.serviceAccountName, else the
// deprecated spec.serviceAccount, else "default" (BEHAVIOUR.md §1).
func policySAName(pod map[string]any) string {
	spec := obj(pod, "spec")
	if name := str(spec, "serviceAccountName"); name != "" {
		return name
	}
	if name := str(spec, "serviceAccount"); name != "" {
		return name
	}
	return "default"
}

// session is the kwctl replay session answering the policy's ServiceAccount read as the API
// server would: the case's ServiceAccount when it is the one asked for, else "not found" to the
// cached read and to the uncached retry. JSON is YAML, so the session is written as JSON.
func session(c *Case) string {
	name := policySAName(c.Pod)
	request := func(disableCache bool) string {
		n, _ := json.Marshal(name)
		ns, _ := json.Marshal(c.Namespace)
		return fmt.Sprintf("!KubernetesGetResource\napi_version: v1\nkind: ServiceAccount\nname: %s\nnamespace: %s\ndisable_cache: %t\n",
			n, ns, disableCache)
	}
	var exchanges []any
	sa := c.ServiceAccount
	if sa != nil && sa.Name == name && sa.Namespace == c.Namespace {
		answer := sa.DeepCopy()
		answer.APIVersion, answer.Kind = "v1", "ServiceAccount"
		payload, err := json.Marshal(answer)
		if err != nil {
			panic(err)
		}
		exchanges = append(exchanges, map[string]any{"type": "Exchange", "request": request(false),
			"response": map[string]any{"type": "Success", "payload": string(payload)}})
	} else {
		notFound := fmt.Sprintf("serviceaccounts %q not found", name)
		for _, disable := range []bool{false, true} {
			exchanges = append(exchanges, map[string]any{"type": "Exchange", "request": request(disable),
				"response": map[string]any{"type": "Error", "message": notFound}})
		}
	}
	data, err := json.Marshal(exchanges)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// response is the AdmissionResponse line kwctl and policy-host print.
type response struct {
	Allowed bool   `json:"allowed"`
	Patch   string `json:"patch"`
	Status  *struct {
		Message string `json:"message"`
	} `json:"status"`
	Error string `json:"error"`
}

func outcome(c *Case, line []byte) (Outcome, error) {
	var out Outcome
	var r response
	if err := json.Unmarshal(line, &r); err != nil {
		return out, fmt.Errorf("the engine printed no response: %v: %s", err, line)
	}
	if r.Error != "" {
		return out, fmt.Errorf("the engine failed: %s", r.Error)
	}
	out.Allowed = r.Allowed
	if r.Status != nil {
		out.Message = r.Status.Message
	}
	pod := c.podBytes()
	if r.Patch != "" {
		out.Patched = true
		decoded, err := base64.StdEncoding.DecodeString(r.Patch)
		if err != nil {
			return out, fmt.Errorf("the policy's patch is not base64: %v", err)
		}
		patch, err := jsonpatch.DecodePatch(decoded)
		if err != nil {
			return out, fmt.Errorf("the policy's patch does not decode: %v", err)
		}
		if pod, err = patch.Apply(pod); err != nil {
			return out, fmt.Errorf("the policy's patch does not apply: %v", err)
		}
	}
	var err error
	if out.Pod, err = Canonical(pod); err != nil {
		return out, fmt.Errorf("the policy's Pod: %v", err)
	}
	return out, nil
}

// batchEngine keeps one `policy-host batch` running: the module is compiled once, and every case
// still runs on a fresh instance, as `run` does.
type batchEngine struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func newBatchEngine(host, module string) (*batchEngine, error) {
	cmd := exec.Command(host, "batch", "--allow-context-aware", module)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The policy's log lines would flood the report.
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &batchEngine{cmd: cmd, in: in, out: bufio.NewReaderSize(stdout, 1<<20)}, nil
}

func (e *batchEngine) Evaluate(c *Case, settings map[string]any) (Outcome, error) {
	line, err := json.Marshal(map[string]any{
		"request": admissionReview(c), "settings": settings, "session": session(c)})
	if err != nil {
		return Outcome{}, err
	}
	if _, err := e.in.Write(append(line, '\n')); err != nil {
		return Outcome{}, fmt.Errorf("policy-host batch: %v", err)
	}
	answer, err := e.out.ReadBytes('\n')
	if err != nil {
		return Outcome{}, fmt.Errorf("policy-host batch: %v", err)
	}
	return outcome(c, answer)
}

func (e *batchEngine) Close() {
	_ = e.in.Close()
	_ = e.cmd.Wait()
}

// runEngine runs `ENGINE run` once per case with kwctl's flags: the real kwctl, or policy-host
// standing in for it.
type runEngine struct {
	engine, module, dir string
}

func newRunEngine(engine, module string) (*runEngine, error) {
	dir, err := os.MkdirTemp("", "webhook-oracle-")
	if err != nil {
		return nil, err
	}
	return &runEngine{engine: engine, module: module, dir: dir}, nil
}

func (e *runEngine) Evaluate(c *Case, settings map[string]any) (Outcome, error) {
	request, err := json.Marshal(admissionReview(c))
	if err != nil {
		return Outcome{}, err
	}
	settingsJSON, err := json.Marshal(settings)
	if err != nil {
		return Outcome{}, err
	}
	requestPath := filepath.Join(e.dir, "request.json")
	sessionPath := filepath.Join(e.dir, "session.yml")
	if err := os.WriteFile(requestPath, request, 0o644); err != nil {
		return Outcome{}, err
	}
	if err := os.WriteFile(sessionPath, []byte(session(c)), 0o644); err != nil {
		return Outcome{}, err
	}
	cmd := exec.Command(e.engine, "run", "--request-path", requestPath,
		"--settings-json", string(settingsJSON), "--allow-context-aware",
		"--replay-host-capabilities-interactions", sessionPath, e.module)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return Outcome{}, fmt.Errorf("%s run: %v: %s", e.engine, err, lastLine(stderr.String()))
	}
	return outcome(c, []byte(lastLine(string(stdout))))
}

func (e *runEngine) Close() { _ = os.RemoveAll(e.dir) }

func lastLine(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return lines[len(lines)-1]
}
