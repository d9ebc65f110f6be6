# Sourced by the scripts that run or pack a built harness: `built_binary ARGS...` runs `cargo build ARGS...`
# and prints the path of the executable it built, wherever cargo put it (CARGO_TARGET_DIR, a `build.target-dir`
# in a cargo config, or the default target/). cargo's own progress goes to standard error.
built_binary() {
  cargo build "$@" --message-format=json-render-diagnostics | python3 -c '
import json, sys
executables = [m["executable"] for m in map(json.loads, sys.stdin)
               if m.get("reason") == "compiler-artifact" and m.get("executable")]
if not executables:
    sys.exit("cargo built no executable")
print(executables[-1])'
}
