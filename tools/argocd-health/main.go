// argocd-health prints Argo CD's health verdict of each Kubernetes object in a JSON list read from
// stdin, one "STATUS<TAB>MESSAGE" line per object, computed by Argo CD's own code: the
// resource.customizations.health.* keys of the argocd-cm ConfigMap given as the first argument,
// read by Argo CD's settings manager, and run by the application controller's health entry point
// under Argo CD's Lua sandbox. scripts/argocd-health builds it against argo-cd/v3.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

const namespace = "argocd"

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "argocd-health: "+format+"\n", args...)
	os.Exit(code)
}

// overrides reads the ConfigMap at path as argocd-cm, labelled as Argo CD's install labels it (the
// settings manager ignores a ConfigMap without the label), through Argo CD's settings manager.
func overrides(path string) lua.ResourceHealthOverrides {
	raw, err := os.ReadFile(path)
	if err != nil {
		fail(2, "reading the argocd-cm ConfigMap: %v", err)
	}
	configMap := &corev1.ConfigMap{}
	if err := yaml.UnmarshalStrict(raw, configMap); err != nil {
		fail(2, "%s is not a ConfigMap: %v", path, err)
	}
	configMap.ObjectMeta = metav1.ObjectMeta{
		Name: "argocd-cm", Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "argocd"},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: "argocd-secret", Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "argocd"},
	}}
	manager := settings.NewSettingsManager(context.Background(), fake.NewClientset(configMap, secret), namespace)
	found, err := manager.GetResourceOverrides()
	if err != nil {
		fail(2, "Argo CD's settings manager refused %s: %v", path, err)
	}
	return lua.ResourceHealthOverrides(found)
}

func main() {
	if len(os.Args) != 2 {
		fail(2, "usage: argocd-health ARGOCD_CM.yaml < objects.json")
	}
	healthOverrides := overrides(os.Args[1])
	var objects []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fail(2, "reading a JSON list of objects from stdin: %v", err)
	}
	for _, raw := range objects {
		object := &unstructured.Unstructured{}
		if err := object.UnmarshalJSON(raw); err != nil {
			fail(2, "not a Kubernetes object: %v", err)
		}
		result, err := health.GetResourceHealth(object, healthOverrides)
		if err != nil {
			fail(1, "%v", err)
		}
		if result == nil {
			fmt.Printf("None\tno health check for %s\n", object.GroupVersionKind())
			continue
		}
		fmt.Printf("%s\t%s\n", result.Status, result.Message)
	}
}
