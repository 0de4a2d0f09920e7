package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The generator draws cases from everything the policy reads. Names come from small pools so
// that they collide: the Pod's ServiceAccount, the ConfigMap's keys and the identities name the
// same few accounts, containers share names with the container lists.

var (
	namespaces      = []string{"team-a", "kube-system"}
	serviceAccounts = []string{"app", "default", "builder"}
	containerNames  = []string{"app", "sidecar", "envoy", "init", "app-2"}
	prefixes        = []string{"eks.amazonaws.com", "eks.amazonaws.com", "eks.amazonaws.com", "iam.example.org"}
	roleARNs        = []string{
		"arn:aws:iam::111122223333:role/app",
		"arn:aws-cn:iam::111122223333:role/path/to/role",
		"arn:aws-us-gov:iam::111122223333:role/a+b=c,d.e@f_g-h",
		"arn:aws:iam::11112222333:role/short-account",
		"arn:aws:iam::111122223333:user/not-a-role",
		"not-an-arn",
		"arn:aws:iam::111122223333:role/ünïcode",
		"",
	}
	audiences  = []string{"sts.amazonaws.com", "custom-audience", "", "https://issuer.example"}
	boolValues = []string{"true", "false", "1", "0", "t", "F", "TRUE", "True", "yes", "", " true", "on"}
	// Token lifetimes as annotations: numbers, signs, non-numbers, overflows.
	expirations = []string{"3600", "600", "599", "0", "-1", "-3600", "+7200", "86400", "86401", "172800",
		"abc", "", " 3600", "3600s", "1e4", "0x10", "9223372036854775807", "9223372036854775808",
		"99999999999999999999", "007200"}
	// Container lists as odd CSV: quotes, spaces, empty fields, duplicates, line breaks.
	containerLists = []string{"app", "app,sidecar", " app , sidecar ", `"app"`, `"app",,"sidecar"`, "app,app",
		"app\nsidecar", "\napp", "\r\napp,envoy", `"app` + "\n" + `x",sidecar`, `app,"side`, `ap"p`, `""`, "",
		"  ", `"envoy ""v2""",app`, "app ,", ",,", "sidecar,init", `"app" ,envoy`, "envoy\r\n", "Envoy"}
	awsEnvNames = []string{"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_STS_REGIONAL_ENDPOINTS", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "HOME"}
)

type gen struct{ r *rand.Rand }

func (g gen) chance(p float64) bool { return g.r.Float64() < p }

func (g gen) pick(items []string) string { return items[g.r.Intn(len(items))] }

// Generate draws case number i of the run with the given seed; the same pair gives the same case.
func Generate(seed int64, i int) *Case {
	g := gen{rand.New(rand.NewSource(seed*1_000_003 + int64(i)))}
	c := &Case{
		Name:      fmt.Sprintf("seed %d case %d", seed, i),
		Namespace: g.pick(namespaces),
		UID:       fmt.Sprintf("%08x-0000-4000-8000-%012x", g.r.Uint32(), g.r.Int63()&0xffffffffffff),
	}
	prefix := g.pick(prefixes)
	c.Flags = g.flags(c, prefix)
	saName := g.pick(serviceAccounts)
	if g.chance(0.85) {
		c.ServiceAccount = g.serviceAccount(prefix, c.Namespace, saName)
	}
	c.Pod = g.pod(prefix, c.Namespace, saName)
	return c
}

func (g gen) flags(c *Case, prefix string) []string {
	var flags []string
	add := func(p float64, name string, values ...string) {
		if g.chance(p) {
			flags = append(flags, "--"+name+"="+g.pick(values))
		}
	}
	if prefix != "eks.amazonaws.com" {
		flags = append(flags, "--annotation-prefix="+prefix)
	}
	add(0.3, "token-audience", "sts.amazonaws.com", "custom-audience", "")
	add(0.3, "token-mount-path", "/var/run/secrets/custom", "/aws/", "/var/run/secrets/eks.amazonaws.com/serviceaccount")
	add(0.4, "token-expiration", "3600", "600", "100", "86400", "172800", "-5")
	add(0.4, "aws-default-region", "us-west-2", "eu-central-1", "")
	add(0.4, "sts-regional-endpoint", "true", "false")
	if g.chance(0.35) {
		flags = append(flags, "--watch-config-map")
		c.ConfigMap = g.configMap()
	}
	if g.chance(0.35) {
		flags = append(flags, "--watch-container-credentials-config=/etc/webhook/identities.json")
		c.Identities = g.identities(c.Namespace)
		add(0.3, "container-credentials-audience", "pods.eks.amazonaws.com", "custom-pods", "")
		add(0.3, "container-credentials-token-mount-path", "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount", "/cc/", "/cc/token-dir")
		add(0.3, "container-credentials-token-volume-name", "eks-pod-identity-token", "pod-identity", "aws-iam-token")
		add(0.3, "container-credentials-token-path", "eks-pod-identity-token", "token", "sub/dir/token")
		add(0.3, "container-credentials-full-uri", "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials", "https://agent.example:8443/creds")
	}
	g.r.Shuffle(len(flags), func(i, j int) { flags[i], flags[j] = flags[j], flags[i] })
	for i, flag := range flags {
		// pflag's other spellings of the same flags: a bare bool, a value as the next argument.
		if flag == "--sts-regional-endpoint=true" && g.chance(0.5) {
			flags[i] = "--sts-regional-endpoint"
		}
	}
	if len(flags) == 0 {
		flags = nil
	} else if name, value, ok := strings.Cut(g.pick(flags), "="); ok && g.chance(0.3) && name != "--sts-regional-endpoint" && value != "" {
		flags = append(slices.DeleteFunc(flags, func(f string) bool { return f == name+"="+value }), name, value)
	}
	// Flags that do not shape a mutation, as real Deployments carry them: the converter lists
	// them as not carried, and they must change nothing.
	for _, noise := range serverFlags {
		if g.chance(0.15) {
			flags = append(flags, noise...)
		}
	}
	return flags
}

// serverFlags are the webhook's flags for its own server, the cluster connection and logging.
var serverFlags = [][]string{
	{"--port=8443"}, {"--metrics-port", "9999"}, {"--tls-cert=/etc/webhook/certs/tls.crt"},
	{"--tls-key=/etc/webhook/certs/tls.key"}, {"--in-cluster=false"}, {"--namespace=kube-system"},
	{"--service-name=pod-identity-webhook"}, {"--resync-period=30s"}, {"-v=4"}, {"--logtostderr"},
	{"--enable-debugging-handlers"}, {"--tls-min-version=1.2"},
}

// configMap is the pod-identity-webhook ConfigMap's `config`: entries by "<namespace>/<name>",
// the namespace possibly "*", with the webhook's own field names.
func (g gen) configMap() string {
	if g.chance(0.03) {
		// The webhook logs that it cannot read it and maps nothing.
		return `{"team-a/app": {"RoleARN": "arn:aws:iam::111122223333:role/app"`
	}
	entries := map[string]map[string]any{}
	for n := g.r.Intn(4); n > 0; n-- {
		ns := g.pick(append([]string{"*"}, namespaces...))
		entry := map[string]any{"RoleARN": g.pick(roleARNs[:6])}
		if g.chance(0.4) {
			entry["Audience"] = g.pick(audiences)
		}
		if g.chance(0.4) {
			entry["UseRegionalSTS"] = g.chance(0.5)
		}
		if g.chance(0.4) {
			entry["TokenExpiration"] = []int64{0, 3600, 600, 86400, 7200, 300, -60}[g.r.Intn(7)]
		}
		entries[ns+"/"+g.pick(serviceAccounts)] = entry
	}
	data, _ := json.Marshal(entries)
	return string(data)
}

func (g gen) identities(namespace string) json.RawMessage {
	type identity struct {
		Namespace      string `json:"namespace"`
		ServiceAccount string `json:"serviceAccount"`
	}
	if g.chance(0.03) {
		// An empty file: the webhook's loader clears the identities.
		return json.RawMessage{}
	}
	var ids []identity
	for n := g.r.Intn(3); n >= 0; n-- {
		ns := namespace
		if g.chance(0.2) {
			ns = g.pick(namespaces)
		}
		ids = append(ids, identity{ns, g.pick(serviceAccounts)})
	}
	data, _ := json.Marshal(map[string]any{"identities": ids})
	return data
}

func (g gen) serviceAccount(prefix, namespace, name string) *corev1.ServiceAccount {
	annotations := map[string]string{}
	set := func(p float64, key string, values []string) {
		if g.chance(p) {
			annotations[prefix+"/"+key] = g.pick(values)
		}
	}
	set(0.75, "role-arn", roleARNs)
	set(0.3, "audience", audiences)
	set(0.3, "sts-regional-endpoints", boolValues)
	set(0.3, "token-expiration", expirations)
	set(0.05, "region", []string{"ap-south-1", ""})
	if g.chance(0.1) {
		// Another prefix's annotations mean nothing to either side.
		other := "eks.amazonaws.com"
		if prefix == other {
			other = "iam.example.org"
		}
		annotations[other+"/role-arn"] = roleARNs[0]
	}
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Annotations: annotations}}
}

func (g gen) pod(prefix, namespace, saName string) map[string]any {
	metadata := map[string]any{"name": "pod-" + fmt.Sprint(g.r.Intn(1000))}
	if g.chance(0.7) {
		metadata["namespace"] = namespace
	}
	annotations := map[string]any{}
	if g.chance(0.3) {
		annotations[prefix+"/skip-containers"] = g.pick(containerLists)
	}
	if g.chance(0.05) {
		annotations[prefix+"/include-containers"] = g.pick(containerLists)
	}
	if g.chance(0.3) {
		annotations[prefix+"/token-expiration"] = g.pick(expirations)
	}
	if g.chance(0.05) {
		// Honoured only with the policy's allowPodRoleArn (off here), like the webhook: ignored.
		annotations[prefix+"/role-arn"] = g.pick(roleARNs)
	}
	if g.chance(0.1) {
		annotations["kubectl.kubernetes.io/default-container"] = "app"
	}
	if len(annotations) > 0 || g.chance(0.1) {
		metadata["annotations"] = annotations
	}
	switch {
	case g.chance(0.04):
		metadata["labels"] = map[string]any{prefix + "/skip-pod-identity-webhook": "true"}
	case g.chance(0.1):
		metadata["labels"] = map[string]any{"eks.amazonaws.com/pod-identity": g.pick([]string{"enabled", "disabled"})}
	case g.chance(0.4):
		metadata["labels"] = map[string]any{"app": "web"}
	case g.chance(0.1):
		metadata["labels"] = map[string]any{}
	}
	spec := map[string]any{}
	switch {
	case g.chance(0.08):
		// The ServiceAccount admission plugin has not run: no name at all.
	case g.chance(0.04):
		spec["serviceAccount"] = saName
	default:
		spec["serviceAccountName"] = saName
	}
	spec["containers"] = g.containers(1+g.r.Intn(3), false)
	if g.chance(0.35) {
		spec["initContainers"] = g.containers(1+g.r.Intn(2), true)
	}
	if g.chance(0.1) {
		spec["ephemeralContainers"] = g.containers(1, false)
	}
	if v := g.volumes(); v != nil {
		spec["volumes"] = v
	}
	if g.chance(0.2) {
		selector := map[string]any{}
		key := g.pick([]string{"kubernetes.io/os", "beta.kubernetes.io/os"})
		selector[key] = g.pick([]string{"windows", "linux", "Windows"})
		spec["nodeSelector"] = selector
	}
	if g.chance(0.1) {
		spec["os"] = map[string]any{"name": g.pick([]string{"windows", "linux"})}
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
}

func (g gen) containers(n int, init bool) []any {
	var out []any
	for i := 0; i < n; i++ {
		c := map[string]any{"name": g.pick(containerNames), "image": "public.ecr.aws/amazonlinux/amazonlinux"}
		if init && g.chance(0.4) {
			// A native sidecar.
			c["restartPolicy"] = "Always"
		}
		if env := g.env(); env != nil {
			c["env"] = env
		}
		if g.chance(0.1) {
			// Neither side looks at envFrom: a ConfigMap's AWS_ROLE_ARN does not count as set.
			c["envFrom"] = []any{map[string]any{"configMapRef": map[string]any{"name": "aws-env"}}}
		}
		if mounts := g.mounts(); mounts != nil {
			c["volumeMounts"] = mounts
		}
		out = append(out, c)
	}
	return out
}

func (g gen) env() []any {
	if g.chance(0.4) {
		return nil
	}
	var env []any
	for n := g.r.Intn(5); n > 0; n-- {
		name := g.pick(awsEnvNames)
		if g.chance(0.1) {
			name = strings.ToLower(name)
		}
		switch {
		case g.chance(0.15):
			env = append(env, map[string]any{"name": name, "valueFrom": map[string]any{
				"fieldRef": map[string]any{"fieldPath": "metadata.name"}}})
		case g.chance(0.15):
			env = append(env, map[string]any{"name": name, "value": ""})
		case g.chance(0.1):
			env = append(env, map[string]any{"name": name})
		default:
			env = append(env, map[string]any{"name": name, "value": "from-the-pod"})
		}
		if g.chance(0.1) {
			env = append(env, env[len(env)-1])
		}
	}
	if env == nil {
		return []any{}
	}
	return env
}

func (g gen) mounts() []any {
	if g.chance(0.6) {
		return nil
	}
	var mounts []any
	for n := g.r.Intn(3); n > 0; n-- {
		name := g.pick([]string{"aws-iam-token", "eks-pod-identity-token", "data", "pod-identity"})
		mounts = append(mounts, map[string]any{"name": name,
			"mountPath": g.pick([]string{"/data", "/var/run/secrets/eks.amazonaws.com/serviceaccount", "/elsewhere"})})
	}
	if mounts == nil {
		return []any{}
	}
	return mounts
}

func (g gen) volumes() []any {
	switch {
	case g.chance(0.4):
		return nil
	case g.chance(0.1):
		return []any{}
	}
	var vols []any
	for n := 1 + g.r.Intn(2); n > 0; n-- {
		name := g.pick([]string{"aws-iam-token", "eks-pod-identity-token", "data", "pod-identity"})
		if g.chance(0.5) {
			vols = append(vols, map[string]any{"name": name, "emptyDir": map[string]any{}})
		} else {
			vols = append(vols, map[string]any{"name": name, "projected": map[string]any{"sources": []any{
				map[string]any{"serviceAccountToken": map[string]any{"audience": "other", "expirationSeconds": 3600, "path": "t"}}}}})
		}
	}
	return vols
}
