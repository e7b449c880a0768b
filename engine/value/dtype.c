/* dtypes: numpy typestrs ("<f8", "|b1", ">c16", "|S7") parsed, validated and formatted, and the
 * byte-order helpers engine code uses to convert element buffers.
 *
 * Invariant: a valid lrd_dtype is canonical — 1-byte kinds (b1, i1, u1) and S<n> carry '|',
 * every other dtype '<' or '>' — so two equal dtypes are equal field by field. Parsing is the
 * only place that accepts other spellings ('=', no order, '<' on 1-byte kinds) and normalises
 * them. Stateless; safe from any thread. */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "engine/value/dtype_internal.h"

static bool onebyte_or_bytes(char kind, uint32_t itemsize) { return kind == 'S' || itemsize == 1; }

bool lrd_dtype_valid(lrd_dtype dt)
{
	bool size_ok;
	switch (dt.kind) {
	case 'b':
		size_ok = dt.itemsize == 1;
		break;
	case 'i':
	case 'u':
		size_ok =
		    dt.itemsize == 1 || dt.itemsize == 2 || dt.itemsize == 4 || dt.itemsize == 8;
		break;
	case 'f':
		size_ok = dt.itemsize == 2 || dt.itemsize == 4 || dt.itemsize == 8;
		break;
	case 'c':
		size_ok = dt.itemsize == 8 || dt.itemsize == 16;
		break;
	case 'S':
		size_ok = dt.itemsize >= 1 && dt.itemsize <= (UINT32_C(1) << 31);
		break;
	default:
		return false;
	}
	if (!size_ok)
		return false;
	if (onebyte_or_bytes(dt.kind, dt.itemsize))
		return dt.order == '|';
	return dt.order == '<' || dt.order == '>';
}

bool lrd_dtype_equal(lrd_dtype a, lrd_dtype b)
{
	return a.order == b.order && a.kind == b.kind && a.itemsize == b.itemsize;
}

lrd_dtype lrd_dtype_native(lrd_dtype dt)
{
	if (dt.order == '<' || dt.order == '>')
		dt.order = LRD__NATIVE_ORDER;
	return dt;
}

int lrd_dtype_parse(const char *typestr, lrd_dtype *out)
{
	if (!typestr || !out)
		return lrd__err(LRD_EINVAL, "lrd_dtype_parse: NULL argument");
	const char *p = typestr;
	char order = '=';
	if (*p == '<' || *p == '>' || *p == '|' || *p == '=')
		order = *p++;
	char kind = *p;
	if (kind == '\0' || !strchr("biufcS", kind))
		return lrd__err(LRD_EDTYPE, "dtype '%.40s': unknown or unsupported kind", typestr);
	p++;
	if (*p < '1' || *p > '9')
		return lrd__err(LRD_EDTYPE, "dtype '%.40s': item size must be a decimal number > 0",
		                typestr);
	uint64_t size = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		size = size * 10 + (uint64_t)(*p - '0');
		if (size > UINT32_MAX)
			return lrd__err(LRD_EDTYPE, "dtype '%.40s': item size too large", typestr);
	}
	if (*p != '\0')
		return lrd__err(LRD_EDTYPE, "dtype '%.40s': unexpected text after the item size",
		                typestr);
	lrd_dtype dt = {.order = order, .kind = kind, .itemsize = (uint32_t)size};
	if (onebyte_or_bytes(kind, dt.itemsize))
		dt.order = '|';
	else if (order == '|')
		return lrd__err(LRD_EDTYPE,
		                "dtype '%.40s': byte order '|' is only for 1-byte and S dtypes",
		                typestr);
	else if (order == '=')
		dt.order = LRD__NATIVE_ORDER;
	if (!lrd_dtype_valid(dt))
		return lrd__err(LRD_EDTYPE, "dtype '%.40s': unsupported item size for kind '%c'",
		                typestr, kind);
	*out = dt;
	return LRD_OK;
}

int lrd_dtype_format(lrd_dtype dt, char *buf, size_t cap)
{
	if (!buf)
		return lrd__err(LRD_EINVAL, "lrd_dtype_format: NULL buffer");
	if (!lrd_dtype_valid(dt))
		return lrd__err(LRD_EDTYPE,
		                "invalid dtype (order 0x%02x, kind 0x%02x, itemsize %u)",
		                (unsigned char)dt.order, (unsigned char)dt.kind, dt.itemsize);
	int n = snprintf(buf, cap, "%c%c%u", dt.order, dt.kind, (unsigned)dt.itemsize);
	if (n < 0 || (size_t)n >= cap)
		return lrd__err(LRD_EBUFSIZE, "dtype string needs %d bytes, buffer holds %zu",
		                n + 1, cap);
	return LRD_OK;
}

const char *lrd__dtype_str(lrd_dtype dt, char buf[16])
{
	if (lrd_dtype_format(dt, buf, 16) != LRD_OK)
		return "<invalid dtype>";
	return buf;
}

bool lrd__dtype_is_native(lrd_dtype dt) { return dt.order == '|' || dt.order == LRD__NATIVE_ORDER; }

size_t lrd__dtype_swap_unit(lrd_dtype dt)
{
	if (dt.order == '|')
		return 1;
	return dt.kind == 'c' ? dt.itemsize / 2 : dt.itemsize;
}

void lrd__dtype_byteswap(lrd_dtype dt, void *buf, size_t count)
{
	size_t unit = lrd__dtype_swap_unit(dt);
	size_t n = count * (dt.itemsize / unit);
	unsigned char *p = buf;
	switch (unit) {
	case 2:
		for (size_t i = 0; i < n; i++, p += 2) {
			uint16_t v;
			memcpy(&v, p, 2);
			v = __builtin_bswap16(v);
			memcpy(p, &v, 2);
		}
		break;
	case 4:
		for (size_t i = 0; i < n; i++, p += 4) {
			uint32_t v;
			memcpy(&v, p, 4);
			v = __builtin_bswap32(v);
			memcpy(p, &v, 4);
		}
		break;
	case 8:
		for (size_t i = 0; i < n; i++, p += 8) {
			uint64_t v;
			memcpy(&v, p, 8);
			v = __builtin_bswap64(v);
			memcpy(p, &v, 8);
		}
		break;
	default:
		break;
	}
}
