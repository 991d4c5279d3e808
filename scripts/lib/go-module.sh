# Helpers for builds of Go programs whose go.mod has replace directives (scripts/flux-binaries,
# scripts/argocd-health): such a program cannot be built with `go install`, and its replaces
# apply only in the main module, so a throwaway module takes them over. Python reads the JSON:
# it is on every machine this runs on, jq is not.

module_field() {  # module_field MODULE@VERSION FIELD: a field (Dir, GoMod) of `go mod download -json`
    go mod download -json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

take_replaces() {  # take_replaces MODULE@VERSION: its replaces, but those to a local path, into ./go.mod
    local replace
    go mod edit -json "$(module_field "$1" GoMod)" | python3 -c '
import json, sys
for replace in json.load(sys.stdin).get("Replace") or []:
    old, new = replace["Old"], replace["New"]
    if new.get("Version"):
        print(old["Path"] + "=" + new["Path"] + "@" + new["Version"])
' | while read -r replace; do go mod edit -replace "$replace"; done
}
