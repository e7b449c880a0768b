/* UTF-8 validation for strings and map keys (RFC 3629: shortest form only, no surrogates, no
 * code point above U+10FFFF). Stateless. */
#include <string.h>

#include "engine/value/value_internal.h"

bool lrd__utf8_valid(const void *buf, size_t n)
{
	const unsigned char *p = buf, *end = p + n;
	/* an ASCII prefix, eight bytes at a time (keys and most strings are ASCII) */
	uint64_t w;
	while (end - p >= 8 && (memcpy(&w, p, 8), !(w & 0x8080808080808080ull)))
		p += 8;
	while (p < end && *p < 0x80)
		p++;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		size_t len;
		unsigned lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF)
			len = 2;
		else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			if (c == 0xE0)
				lo = 0xA0; /* overlong */
			else if (c == 0xED)
				hi = 0x9F; /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			if (c == 0xF0)
				lo = 0x90; /* overlong */
			else if (c == 0xF4)
				hi = 0x8F; /* above U+10FFFF */
		} else
			return false;
		if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
			return false;
		for (size_t i = 2; i < len; i++)
			if ((p[i] & 0xC0) != 0x80)
				return false;
		p += len;
	}
	return true;
}
