#!/usr/bin/env bash
# Builds the seed corpus of every fuzz target from Fixtures/ (valid models and the malformed files), into
# Fuzz/.seeds/<target>/ (not committed: it is rebuilt from the fixtures on every run of scripts/fuzz.sh).
#
# Files over MAX_SEED_BYTES (default 64 KiB, the -max_len scripts/fuzz.sh passes) are left out: libFuzzer would
# only see their first bytes, and they make every execution slow.
set -euo pipefail
cd "$(dirname "$0")/.."
max=${MAX_SEED_BYTES:-65536}
out=Fuzz/.seeds
rm -rf "$out"

# seed TARGET FIND-ARGS...: copies the fixtures matching FIND-ARGS (under Fixtures/) into the target's seeds.
seed() {
    local target=$1; shift
    mkdir -p "$out/$target"
    find Fixtures "$@" -type f -size -"$((max + 1))"c -print0 |
        while IFS= read -r -d '' file; do
            # Flattened path as the name, so seeds from different folders never collide.
            cp "$file" "$out/$target/$(echo "${file#Fixtures/}" | tr '/' '_')"
        done
}
# text TARGET NAME CONTENT: a seed written here (for formats without fixture files).
text() { mkdir -p "$out/$1"; printf '%s' "$3" > "$out/$1/$2"; }

seed mkit -name '*.mkit'
seed mkit-json \( -path 'Fixtures/models/*' -o -path 'Fixtures/malformed/mkit/*' \) -name '*.json' ! -name '*index.json'
seed mkit-json -path 'Fixtures/malformed/mkit/*' -name 'header-*'
seed onnx -name '*.onnx'
seed safetensors -name '*.safetensors'
seed safetensors-index -name '*.index.json'
seed npy -name '*.npy'
seed npz -name '*.npz'
seed pt \( -name '*.pt' -o -name '*.pkl' \)
seed gguf -name '*.gguf'
seed arch -path 'Fixtures/models/*' -name '*.arch.json'
seed csv -name '*.csv'
seed json-input -path 'Fixtures/expected/*' -name 'batch*.json'

seed keras \( -name '*.keras' -o -name '*.h5' \)
# The config.json inside the .keras fixtures, for the config parser alone.
mkdir -p "$out/keras-config"
find Fixtures -name '*.keras' -size -"$((max + 1))"c -print0 | while IFS= read -r -d '' archive; do
    name=$(echo "${archive#Fixtures/}" | tr '/' '_')
    unzip -p "$archive" config.json > "$out/keras-config/$name.json" 2>/dev/null || rm -f "$out/keras-config/$name.json"
done

# The pickles inside the .pt fixtures, for the unpickler alone.
mkdir -p "$out/pickle"
find Fixtures -name '*.pt' -size -"$((max + 1))"c -print0 | while IFS= read -r -d '' archive; do
    name=$(echo "${archive#Fixtures/}" | tr '/' '_')
    unzip -p "$archive" '*/data.pkl' > "$out/pickle/$name.pkl" 2>/dev/null || rm -f "$out/pickle/$name.pkl"
done
cp Fixtures/malformed/torch/*.pkl "$out/pickle/"

text arch string "linear(400,200) relu linear(200,10) softmax"
text arch string-gelu "linear(4,3,bias=false) gelu(approximate=tanh) dropout(0.5) linear(3,2) leaky_relu(0.1)"
text arch json '[{"type":"dense","in":400,"out":200,"activation":"relu"},{"type":"dense","in":200,"out":10,"activation":"none","bias":false},{"type":"dropout","rate":0.5}]'
text csv plain $'1,2,3\n4,5,6\n'
text csv header $'a,b,"c d"\n1.5,-2e3,nan\n4,inf,6\n'
text json-input nested '[[1,2,3],[4.5,-6e-3,7]]'
text json-input named '{"x":[[1,2],[3,4]],"y":[1]}'

for dir in "$out"/*; do echo "$(basename "$dir"): $(find "$dir" -type f | wc -l) seeds"; done
