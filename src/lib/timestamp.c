/* Image times (see timestamp.h). gmtime_r only: no time zone, no locale. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timestamp.h"
#include "banned.h"

/* Exactly n decimal digits. */
static int take_digits(const char **p, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int oci_timestamp_rfc3339(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0, leap;
	int64_t t;

	if (take_digits(&p, 4, &y) < 0 || *p++ != '-' || take_digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || take_digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (take_digits(&p, 2, &h) < 0 || *p++ != ':' || take_digits(&p, 2, &mi) < 0 ||
	    *p++ != ':' || take_digits(&p, 2, &se) < 0)
		return -1;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (take_digits(&p, 2, &oh) < 0 || *p++ != ':' || take_digits(&p, 2, &om) < 0 ||
		    oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    h > 23 || mi > 59 || se > 59)
		return -1;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
	    sign * (oh * 3600 + om * 60);
	if (t < 0 || t > OCI_TIMESTAMP_MAX)
		return -1;
	*out = t;
	return 0;
}

int oci_timestamp_parse(const char *s, int64_t *out, int *now, ocibuild_error *err)
{
	*now = 0;
	if (!strcmp(s, "now")) {
		*now = 1;
		return 0;
	}
	if (s[0] == '@' && s[1] >= '0' && s[1] <= '9') {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (!errno && !*end && v >= 0 && v <= OCI_TIMESTAMP_MAX) {
			*out = v;
			return 0;
		}
	} else if (oci_timestamp_rfc3339(s, out) == 0) {
		return 0;
	}
	return oci_err(err, OCIBUILD_ERR_OPTION, 0,
		       "bad --created '%s': use now, an RFC 3339 time such as 2024-05-01T12:00:00Z, or @SECONDS since 1970",
		       s);
}

int oci_timestamp_format(int64_t t, char *out, size_t size, ocibuild_error *err)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return oci_err(err, OCIBUILD_ERR_INPUT, 0, "timestamp %lld is out of range",
			       (long long)t);
	return 0;
}
