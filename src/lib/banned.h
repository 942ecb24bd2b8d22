/* Functions that are easy to misuse; including this header after the system
 * headers turns any use of them into a compile error. */
#ifndef OCI_BANNED_H
#define OCI_BANNED_H
#define BANNED(f) sorry_##f##_is_banned_here
#undef strcpy
#define strcpy(a, b) BANNED(strcpy)
#undef strcat
#define strcat(a, b) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef strtok
#define strtok(a, b) BANNED(strtok)
#undef atoi
#define atoi(a) BANNED(atoi)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef mktemp
#define mktemp(t) BANNED(mktemp)
#endif
