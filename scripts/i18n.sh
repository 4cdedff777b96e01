#!/usr/bin/env bash
# The one catalogue (protocol/translations; msgids English, vi translated) kept in step with the code.
#   extract   the code's texts (babel.cfg) -> protocol/translations/messages.pot
#   update    messages.pot -> every language's .po (new msgids empty, gone ones dropped; no fuzzy guesses)
#   compile   every .po -> .mo (what the apps read)
#   check     fail, saying which, when the catalogue is out of date with the code: a msgid of the code missing
#             from a .po, a .po entry empty or fuzzy or no longer in the code, a .mo that is not the .po compiled
# Always regenerate with these (extract -> update -> compile), never reorder a .po by hand: branches then merge
# their .po with `msgcat --use-first` and one more extract/update/compile.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DIR=protocol/translations
POT=$DIR/messages.pot
LANGS_TRANSLATED=(vi)  # English is the msgid: no en catalogue

extract_to() {
  "$PY" -m babel.messages.frontend -q extract -F babel.cfg -k N_ -k NC_:1c,2 --no-location --sort-output \
    --project sohoa --ignore-dirs='.* _* node_modules build' -o "$1" .
}

case "${1:-}" in
  extract) extract_to "$POT" ;;
  update)
    for lang in "${LANGS_TRANSLATED[@]}"; do
      "$PY" -m babel.messages.frontend -q update -i "$POT" -d "$DIR" -l "$lang" --no-fuzzy-matching \
        --ignore-obsolete --ignore-pot-creation-date --no-location 2>/dev/null \
      || "$PY" -m babel.messages.frontend -q update -i "$POT" -d "$DIR" -l "$lang" --no-fuzzy-matching \
        --ignore-obsolete --ignore-pot-creation-date
    done ;;
  compile) "$PY" -m babel.messages.frontend -q compile -d "$DIR" ;;
  check)
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    extract_to "$tmp/code.pot"
    "$PY" - "$tmp/code.pot" "$DIR" "$tmp" "${LANGS_TRANSLATED[@]}" <<'EOF'
import io, sys
from pathlib import Path
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

pot, folder, tmp, langs = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
key = lambda m: (m.context, m.id)  # noqa: E731
show = lambda k: (f"[{k[0]}] " if k[0] else "") + repr(k[1])  # noqa: E731
code = {key(m) for m in read_po(open(pot, "rb")) if m.id}
problems = []
for lang in langs:
    po = folder / lang / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    cat = read_po(open(po, "rb"), locale=lang)
    have = {key(m): m for m in cat if m.id}
    problems += [f"{lang}: not in the catalogue (run extract, update): {show(k)}" for k in sorted(code - set(have), key=str)]
    problems += [f"{lang}: in the catalogue, no longer in the code (run update): {show(k)}"
                 for k in sorted(set(have) - code, key=str)]
    for k, m in have.items():
        if k not in code:
            continue
        empty = not (all(m.string) if isinstance(m.string, tuple) else m.string)
        if empty or m.fuzzy:
            problems.append(f"{lang}: {'fuzzy' if m.fuzzy and not empty else 'untranslated'}: {show(k)}")
    compiled = io.BytesIO()
    write_mo(compiled, read_po(open(po, "rb"), locale=lang))
    if not mo.exists() or mo.read_bytes() != compiled.getvalue():
        problems.append(f"{lang}: {mo} is not {po} compiled (run compile)")
for p in problems:
    print("i18n check:", p, file=sys.stderr)
if problems:
    sys.exit(f"i18n check: {len(problems)} problem(s): the catalogue is out of date with the code")
print(f"i18n check: {len(code)} msgids, catalogue up to date ({', '.join(langs)})")
EOF
    ;;
  *) echo "usage: $0 extract|update|compile|check" >&2; exit 2 ;;
esac
