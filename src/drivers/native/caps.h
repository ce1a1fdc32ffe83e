/* Capabilities of processes inside the sandbox. All functions run in the
 * sandbox's children and are async-signal-safe. */
#ifndef HUTCH_NATIVE_CAPS_H
#define HUTCH_NATIVE_CAPS_H

/* Empties every capability set (effective, permitted, inheritable, ambient,
 * bounding) and locks the securebits so that no exec can regain any. */
int caps_drop_all(void);

/* caps_drop_all() for a process whose bounding set is already empty: the
 * same without reading the bounding set, whose last read fails by design
 * (EINVAL past the kernel's last capability) and so writes errno. */
int caps_drop_all_but_bounding(void);

/* Empties the bounding set, which no exec can then exceed; only what is
 * still in it costs a credential change, so calling it again is cheap.
 * Needs CAP_SETPCAP in the process's user namespace. */
int caps_drop_bounding(void);

/* Makes the effective set equal to the permitted set (after a uid change
 * with PR_SET_KEEPCAPS). */
int caps_raise_effective(void);

#endif
