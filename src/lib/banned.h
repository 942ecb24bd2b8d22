/* Functions that are easy to misuse; including this header after the system
 * headers turns any use of them into a compile error. The list is git's
 * (banned.h) and a few of our own (strtok, atoi, mktemp). The library and
 * the CLI both include it. */
#ifndef OCI_BANNED_H
#define OCI_BANNED_H
#define BANNED(f) sorry_##f##_is_banned_here

/* no bound, or a bound that does not NUL-terminate: use oci_buf */
#undef strcpy
#define strcpy(a, b) BANNED(strcpy)
#undef strcat
#define strcat(a, b) BANNED(strcat)
#undef strncpy
#define strncpy(a, b, c) BANNED(strncpy)
#undef strncat
#define strncat(a, b, c) BANNED(strncat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)

/* static buffers, hidden state, the local time zone: use gmtime_r */
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef ctime
#define ctime(t) BANNED(ctime)
#undef ctime_r
#define ctime_r(t, b) BANNED(ctime_r)
#undef asctime
#define asctime(t) BANNED(asctime)
#undef asctime_r
#define asctime_r(t, b) BANNED(asctime_r)

/* ours: hidden state, no error reporting, a race */
#undef strtok
#define strtok(a, b) BANNED(strtok)
#undef atoi
#define atoi(a) BANNED(atoi)
#undef mktemp
#define mktemp(t) BANNED(mktemp)
#endif
