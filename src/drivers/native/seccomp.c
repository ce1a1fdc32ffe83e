#include "drivers/native/seccomp.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_bpf.h"

#define LEN(a) ((unsigned short)(sizeof(a) / sizeof((a)[0])))

static int load(const struct sock_filter *program, unsigned short len)
{
    struct sock_fprog prog = {.len = len, .filter = (struct sock_filter *)program};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

int seccomp_lock_down(void)
{
    return load(hutch_seccomp_filter, LEN(hutch_seccomp_filter));
}

unsigned seccomp_filter_length(void)
{
    return LEN(hutch_seccomp_filter);
}
