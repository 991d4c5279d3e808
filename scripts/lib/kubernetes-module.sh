# Sourced by control-plane-binaries and node-binaries: a Go module in the current directory that
# builds k8s.io/kubernetes commands at $K8S_VERSION from the module proxy. k8s.io/kubernetes
# replaces each staging module with ./staging/src/...; outside its repository each one is
# published as its own v0.x tag, so the same replaces point there. Sets $k8s_gomod (the
# release's go.mod) and $k8s_ldflags (the version the binaries report).
kubernetes_module() {
    local minor staging_version module staging_modules version_pkg=k8s.io/component-base/version
    minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
    staging_version="v0.${K8S_VERSION#v1.}"
    go mod init "agreement-operator.local/$1" >/dev/null 2>&1
    k8s_gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    staging_modules="$(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => ./staging/.*#\1#p' "$k8s_gomod")"
    for module in $staging_modules; do
        go mod edit -replace "$module=$module@$staging_version"
    done
    say "replaced $(echo "$staging_modules" | wc -w) staging modules with $staging_version"
    go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
    k8s_ldflags="-s -w -X $version_pkg.gitVersion=$K8S_VERSION -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor"
    k8s_ldflags="$k8s_ldflags -X $version_pkg.gitTreeState=clean -X $version_pkg.buildDate=1970-01-01T00:00:00Z"
}
