/* Capabilities of processes inside the sandbox. All functions run in the
 * sandbox's children and are async-signal-safe. */
#ifndef HUTCH_NATIVE_CAPS_H
#define HUTCH_NATIVE_CAPS_H

/* Empties every capability set (effective, permitted, inheritable, ambient,
 * bounding) and locks the securebits so that no exec can regain any. */
int caps_drop_all(void);

/* Makes the effective set equal to the permitted set (after a uid change
 * with PR_SET_KEEPCAPS). */
int caps_raise_effective(void);

#endif
