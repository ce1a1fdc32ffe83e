#include "drivers/native/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int capget_v3(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return (int)syscall(SYS_capget, &header, data);
}

static int capset_v3(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return (int)syscall(SYS_capset, &header, data);
}

int caps_raise_effective(void)
{
    struct __user_cap_data_struct data[2];
    if (capget_v3(data) < 0)
        return -1;
    data[0].effective = data[0].permitted;
    data[1].effective = data[1].permitted;
    return capset_v3(data);
}

int caps_drop_bounding(void)
{
    /* Each drop replaces the process's credentials (and runs whatever the
     * kernel hooks on that): a capability already gone is only read. */
    for (int cap = 0; cap < 64; cap++) {
        int held = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (held < 0 && errno == EINVAL)
            break; /* past the kernel's last capability */
        if (held == 0)
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return -1;
    }
    return 0;
}

int caps_drop_all(void)
{
    /* The bounding set first: dropping needs CAP_SETPCAP, which goes below. */
    if (caps_drop_bounding() < 0)
        return -1;
    return caps_drop_all_but_bounding();
}

int caps_drop_all_but_bounding(void)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -1;
    /* uid 0 inside gets no capabilities from exec, and nothing can undo it. */
    const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                               SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        return -1;
    struct __user_cap_data_struct none[2] = {{0, 0, 0}, {0, 0, 0}};
    return capset_v3(none);
}
