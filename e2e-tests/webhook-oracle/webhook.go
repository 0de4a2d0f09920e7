package main

import (
	"fmt"
	"math/rand"

	"github.com/aws/amazon-eks-pod-identity-webhook/pkg"
	"github.com/aws/amazon-eks-pod-identity-webhook/pkg/cache"
	"github.com/aws/amazon-eks-pod-identity-webhook/pkg/containercredentials"
	"github.com/aws/amazon-eks-pod-identity-webhook/pkg/handler"
	"github.com/go-logr/logr"
	flag "github.com/spf13/pflag"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/api/admission/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// The webhook logs every mutation and every odd annotation; the report says what matters.
func init() {
	klog.SetLogger(logr.Discard())
}

// WebhookFlags are the flags of the webhook's main.go that shape a mutation, with its names and
// defaults. The others (TLS, ports, kubeconfig, resync, debugging) do not reach MutatePod.
type WebhookFlags struct {
	AnnotationPrefix  string
	TokenAudience     string
	TokenMountPath    string
	TokenExpiration   int64
	AWSDefaultRegion  string
	RegionalSTS       bool
	WatchConfigMap    bool
	Namespace         string
	CCConfigPath      string
	CCAudience        string
	CCMountPath       string
	CCVolumeName      string
	CCTokenPath       string
	CCFullURI         string
	SALookupGraceTime string
}

// ParseWebhookFlags reads the flags as the webhook's main.go declares them (pflag, same names,
// same defaults), so a case's command line means what it would mean to the webhook.
func ParseWebhookFlags(args []string) (WebhookFlags, error) {
	var f WebhookFlags
	fs := flag.NewFlagSet("amazon-eks-pod-identity-webhook", flag.ContinueOnError)
	fs.StringVar(&f.AnnotationPrefix, "annotation-prefix", "eks.amazonaws.com", "")
	fs.StringVar(&f.TokenAudience, "token-audience", "sts.amazonaws.com", "")
	fs.StringVar(&f.TokenMountPath, "token-mount-path", "/var/run/secrets/eks.amazonaws.com/serviceaccount", "")
	fs.Int64Var(&f.TokenExpiration, "token-expiration", pkg.DefaultTokenExpiration, "")
	fs.StringVar(&f.AWSDefaultRegion, "aws-default-region", "", "")
	fs.BoolVar(&f.RegionalSTS, "sts-regional-endpoint", false, "")
	fs.BoolVar(&f.WatchConfigMap, "watch-config-map", false, "")
	fs.StringVar(&f.Namespace, "namespace", "eks", "")
	fs.StringVar(&f.CCConfigPath, "watch-container-credentials-config", "", "")
	fs.StringVar(&f.CCAudience, "container-credentials-audience", "pods.eks.amazonaws.com", "")
	fs.StringVar(&f.CCMountPath, "container-credentials-token-mount-path", "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount", "")
	fs.StringVar(&f.CCVolumeName, "container-credentials-token-volume-name", "eks-pod-identity-token", "")
	fs.StringVar(&f.CCTokenPath, "container-credentials-token-path", "eks-pod-identity-token", "")
	fs.StringVar(&f.CCFullURI, "container-credentials-full-uri", "http://169.254.170.23/v1/credentials", "")
	// The flags that never reach MutatePod (main.go's server, cluster connection, klog) are
	// accepted and ignored, as the webhook accepts them.
	for _, name := range []string{"port", "metrics-port", "tls-cert", "tls-key", "tls-cipher-suites",
		"tls-min-version", "service-name", "tls-secret", "kubeconfig", "kube-api", "resync-period"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"in-cluster", "enable-debugging-handlers", "logtostderr"} {
		fs.Bool(name, false, "")
	}
	fs.StringP("v", "v", "0", "")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return f, nil
}

// Outcome is one side's answer in comparable form.
type Outcome struct {
	Allowed bool
	// Patched: the answer carried a patch.
	Patched bool
	// Pod is the Pod after the patch (the request's Pod when there is none), canonical.
	Pod map[string]any
	// Message is the rejection's or the engine's error, for the report.
	Message string
}

// informer is the stand-in for the shared informers main.go starts: it records the event
// handler cache.New registers, so that objects can be delivered through it as the informer
// would deliver them after its initial list, and it reports itself synced. Every other method
// of SharedIndexInformer is left to the nil embedded interface: cache.New does not call them.
type informer struct {
	toolscache.SharedIndexInformer
	handler toolscache.ResourceEventHandler
}

func (i *informer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	i.handler = h
	return nil, nil
}

func (i *informer) HasSynced() bool { return true }

type saInformer struct {
	coreinformers.ServiceAccountInformer
	informer *informer
}

func (s *saInformer) Informer() toolscache.SharedIndexInformer { return s.informer }

type cmInformer struct {
	coreinformers.ConfigMapInformer
	informer *informer
}

func (s *cmInformer) Informer() toolscache.SharedIndexInformer { return s.informer }

// RunWebhook evaluates the case with the webhook's own code, wired as its main.go wires it:
// cache.New over the informers (the ServiceAccount and the ConfigMap delivered through the
// handlers it registers), the container-credentials config loaded by its own loader from the
// identities file, handler.NewModifier with the options the flags map to, then MutatePod, the
// function behind /mutate. randSeed fixes the token-expiration jitter.
func RunWebhook(c *Case, randSeed int64) (out Outcome, err error) {
	f, err := ParseWebhookFlags(c.Flags)
	if err != nil {
		return out, fmt.Errorf("webhook flags: %v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the webhook panicked: %v", r)
		}
	}()
	// main.go: *tokenExpiration = pkg.ValidateMinTokenExpiration(*tokenExpiration)
	tokenExpiration := pkg.ValidateMinTokenExpiration(f.TokenExpiration)
	sas := &saInformer{informer: &informer{}}
	var cms coreinformers.ConfigMapInformer
	cmStandIn := &cmInformer{informer: &informer{}}
	if f.WatchConfigMap {
		cms = cmStandIn
	}
	saCache := cache.New(f.TokenAudience, f.AnnotationPrefix, f.RegionalSTS, tokenExpiration,
		sas, cms, cache.ComposeRoleArn{}, nil)
	stop := make(chan struct{})
	defer close(stop)
	saCache.Start(stop)
	if c.ServiceAccount != nil {
		sas.informer.handler.OnAdd(c.ServiceAccount.DeepCopy(), true)
	}
	if f.WatchConfigMap {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-identity-webhook", Namespace: f.Namespace},
			Data:       map[string]string{"config": c.ConfigMap},
		}
		cmStandIn.informer.handler.OnAdd(cm, true)
	}
	ccConfig := containercredentials.NewFileConfig(f.CCAudience, f.CCMountPath, f.CCVolumeName,
		f.CCTokenPath, f.CCFullURI)
	if f.CCConfigPath != "" {
		// What the file watcher main.go starts calls with the file's content.
		if err := ccConfig.Load(c.Identities); err != nil {
			return out, fmt.Errorf("the webhook refuses the identities file: %v", err)
		}
	}
	mod := handler.NewModifier(rand.New(rand.NewSource(randSeed)),
		handler.WithAnnotationDomain(f.AnnotationPrefix),
		handler.WithMountPath(f.TokenMountPath),
		handler.WithServiceAccountCache(saCache),
		handler.WithContainerCredentialsConfig(ccConfig),
		handler.WithRegion(f.AWSDefaultRegion),
	)
	raw := c.podBytes()
	review := &v1beta1.AdmissionReview{Request: &v1beta1.AdmissionRequest{
		UID:       types.UID(c.UID),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: c.Namespace,
		Operation: v1beta1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}}
	resp := mod.MutatePod(review)
	out.Allowed = resp.Allowed
	if resp.Result != nil {
		out.Message = resp.Result.Message
	}
	patched := raw
	if len(resp.Patch) > 0 {
		out.Patched = true
		patch, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			return out, fmt.Errorf("the webhook's patch does not decode: %v", err)
		}
		if patched, err = patch.Apply(raw); err != nil {
			return out, fmt.Errorf("the webhook's patch does not apply: %v", err)
		}
	}
	if out.Pod, err = Canonical(patched); err != nil {
		return out, fmt.Errorf("the webhook's Pod: %v", err)
	}
	return out, nil
}
