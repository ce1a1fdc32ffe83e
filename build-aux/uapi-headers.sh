#!/bin/sh
# The kernel's uapi headers (linux/, asm/, asm-generic/) for musl-gcc, which
# must not see glibc's headers they live among: copied into OUTDIR inside the
# build directory at build time. DEPFILE lists every header copied, so that
# ninja copies again when the kernel headers change (and recompiles what
# included them). CC... is the build machine's compiler, which finds them.
#   uapi-headers.sh STAMP DEPFILE OUTDIR CC...
set -eu
stamp=$1 depfile=$2 out=$3
shift 3
case $out in
  */uapi-include) ;;
  *) echo "uapi-headers.sh: unexpected output directory $out" >&2; exit 1 ;;
esac

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
printf '%s:' "$stamp" > "$depfile.tmp"
for h in linux/version.h asm/types.h asm-generic/types.h; do
  path=$(printf '#include <%s>\n' "$h" | "$@" -M -E -x c - | tr -s ' \\' '\n\n' | grep "/$h\$" | head -n 1)
  [ -n "$path" ] || { echo "uapi-headers.sh: $* finds no <$h>" >&2; exit 1; }
  src=${path%/"$h"}/${h%%/*}
  cp -RL "$src" "$out.tmp/"
  find "$src" -name '*.h' -printf ' \\\n %p' >> "$depfile.tmp"
done
echo >> "$depfile.tmp"

rm -rf "$out"
mv "$out.tmp" "$out"
mv "$depfile.tmp" "$depfile"
echo '/* build/musl/uapi-include/ is up to date (build-aux/uapi-headers.sh) */' > "$stamp"
