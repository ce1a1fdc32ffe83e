#!/bin/sh
# Makes an include directory for musl-gcc with the kernel's uapi headers and
# jansson's, which live among glibc's headers that musl-gcc must not see.
# Usage: musl-headers.sh OUTDIR
set -eu
out=$1
mkdir -p "$out"
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
ln -sfn /usr/include/linux "$out/linux"
ln -sfn "/usr/include/$multiarch/asm" "$out/asm"
ln -sfn /usr/include/asm-generic "$out/asm-generic"
ln -sf /usr/include/jansson.h "$out/jansson.h"
ln -sf /usr/include/jansson_config.h "$out/jansson_config.h"
