#include "native/seccomp.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_bpf.h"

int seccomp_lock_down(void)
{
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof hutch_seccomp_program / sizeof hutch_seccomp_program[0]),
        .filter = (struct sock_filter *)hutch_seccomp_program,
    };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

unsigned seccomp_filter_length(void)
{
    return (unsigned)(sizeof hutch_seccomp_program / sizeof hutch_seccomp_program[0]);
}
