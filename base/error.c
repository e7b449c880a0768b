/* Error codes and the thread-local message buffer.
 *
 * The enum, lrd_strerror() and lrd_errname() are all generated from LRD_ERRORS in the public
 * header, so a code cannot exist without its name and description. The message lives in a
 * thread-local buffer: no locking, and one thread's failure never overwrites another's. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

#define MSG_MAX sizeof(((lrd__errsaved *)0)->msg)
static _Thread_local char errmsg[MSG_MAX];
/* Nonzero: the last outcome was this code without detail (lrd__quiet); errmsg is stale. */
static _Thread_local int quiet_code;

const char *lrd_strerror(int code)
{
	switch (code) {
#define X(name, value, desc)                                                                       \
	case value:                                                                                \
		return desc;
		LRD_ERRORS(X)
#undef X
	}
	return "unknown error";
}

const char *lrd_errname(int code)
{
	switch (code) {
#define X(name, value, desc)                                                                       \
	case value:                                                                                \
		return "LRD_" #name;
		LRD_ERRORS(X)
#undef X
	}
	return "LRD_UNKNOWN";
}

const char *lrd_errmsg(void) { return quiet_code ? lrd_strerror(quiet_code) : errmsg; }

void lrd__errclear(void)
{
	quiet_code = 0;
	errmsg[0] = '\0';
}

void lrd__errsave(lrd__errsaved *s)
{
	s->quiet_code = quiet_code;
	memcpy(s->msg, errmsg, sizeof s->msg);
}

void lrd__errrestore(const lrd__errsaved *s)
{
	quiet_code = s->quiet_code;
	memcpy(errmsg, s->msg, sizeof errmsg);
}

int lrd__quiet(int code)
{
	quiet_code = code;
	return code;
}

static int vset(int code, const char *fmt, va_list ap)
{
	quiet_code = 0;
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	return code;
}

int lrd_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(code, fmt, ap);
	va_end(ap);
	return code;
}

int lrd__err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(code, fmt, ap);
	va_end(ap);
	return code;
}

int lrd__errctx(int code, const char *fmt, ...)
{
	char old[MSG_MAX], prefix[MSG_MAX];
	va_list ap;
	snprintf(old, sizeof old, "%s", quiet_code ? "" : errmsg);
	quiet_code = 0;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	if (old[0])
		snprintf(errmsg, sizeof errmsg, "%s: %s", prefix, old);
	else
		snprintf(errmsg, sizeof errmsg, "%s: %s", prefix, lrd_strerror(code));
	return code;
}

int lrd__reserved_check(const uint64_t *reserved, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (reserved[i])
			return lrd__err(
			    LRD_EINVAL,
			    "%s.reserved[%zu] is not zero (leave reserved fields zero; a "
			    "program built for a newer larder?)",
			    what, i);
	return LRD_OK;
}
