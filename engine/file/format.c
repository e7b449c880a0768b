/* The frame of a .lrd logical stream (FORMAT.md §2): header and trailer, the meta-checksum
 * channels, dump option resolution and the recognition of other formats' magic bytes.
 *
 * Invariant of the channels: every byte passes through the channel (so channel.pos is the
 * logical offset used for alignment), and exactly the bytes written or read while `hashing` is
 * set enter the meta checksum; only chunk data is passed with hashing cleared
 * (lrd__file_writer_data, lrd__file_reader_data). */
#include <stdio.h>

#include "codecs/codec_internal.h"
#include "engine/file/file_internal.h"
#include "larder/version.h"

/* ---- writer ---------------------------------------------------------------------------------- */

static int fwr_write(void *ctx, const void *p, size_t n)
{
	lrd__file_writer *f = ctx;
	if (f->hashing)
		XXH3_64bits_update(f->h, p, n);
	return lrd__writer_put(f->out, p, n);
}

int lrd__file_writer_init(lrd__file_writer *f, lrd__writer *out)
{
	*f = (lrd__file_writer){.out = out, .hashing = true};
	f->h = XXH3_createState();
	if (!f->h)
		return lrd__err(LRD_ENOMEM, "out of memory for a checksum state");
	XXH3_64bits_reset(f->h);
	f->channel = (lrd__writer){.write = fwr_write, .ctx = f};
	return LRD_OK;
}

void lrd__file_writer_destroy(lrd__file_writer *f)
{
	if (f->h)
		XXH3_freeState(f->h);
	f->h = NULL;
}

int lrd__file_writer_header(lrd__file_writer *f)
{
	uint8_t h[LRD__FILE_HDR_SIZE] = {0};
	memcpy(h, LRD__MAGIC, LRD__MAGIC_SIZE);
	lrd__put_u16(h + 8, LRD_FORMAT_MAJOR);
	lrd__put_u16(h + 10, LRD_FORMAT_MINOR);
	snprintf((char *)h + 16, 16, "larder %s", LRD_VERSION_STRING);
	return lrd__writer_put(&f->channel, h, sizeof h);
}

int lrd__file_writer_data(lrd__file_writer *f, const void *p, size_t n)
{
	f->hashing = false;
	int rc = lrd__writer_put(&f->channel, p, n);
	f->hashing = true;
	return rc;
}

int lrd__file_writer_trailer(lrd__file_writer *f)
{
	uint8_t t[LRD__TRAILER_SIZE];
	lrd__put_u64(t, (uint64_t)XXH3_64bits_digest(f->h));
	memcpy(t + 8, LRD__END_MAGIC, 8);
	f->hashing = false;
	return lrd__writer_put(&f->channel, t, sizeof t);
}

/* ---- reader ---------------------------------------------------------------------------------- */

static int frd_read(void *ctx, void *p, size_t n)
{
	lrd__file_reader *f = ctx;
	int rc = lrd__reader_get(f->in, p, n);
	if (!rc && f->hashing && f->h)
		XXH3_64bits_update(f->h, p, n);
	return rc;
}

static int frd_skip(void *ctx, uint64_t n)
{
	lrd__file_reader *f = ctx;
	if (f->hashing && f->h)
		return lrd__err(LRD_EINVAL, "internal: hashed bytes cannot be skipped");
	return lrd__reader_skip(f->in, n);
}

int lrd__file_reader_init(lrd__file_reader *f, lrd__reader *in, bool hash)
{
	*f = (lrd__file_reader){.in = in, .hashing = true};
	if (hash) {
		f->h = XXH3_createState();
		if (!f->h)
			return lrd__err(LRD_ENOMEM, "out of memory for a checksum state");
		XXH3_64bits_reset(f->h);
	}
	f->channel = (lrd__reader){.read = frd_read,
	                           .skip = hash ? NULL : frd_skip,
	                           .ctx = f,
	                           .pos = in->pos,
	                           .avail = in->avail};
	return LRD_OK;
}

void lrd__file_reader_destroy(lrd__file_reader *f)
{
	if (f->h)
		XXH3_freeState(f->h);
	f->h = NULL;
}

int lrd__file_reader_header(lrd__file_reader *f, const uint8_t magic[LRD__MAGIC_SIZE],
                            lrd_file_info *info)
{
	uint8_t h[LRD__FILE_HDR_SIZE];
	memcpy(h, magic, LRD__MAGIC_SIZE);
	if (f->h)
		XXH3_64bits_update(f->h, h, LRD__MAGIC_SIZE);
	if (memcmp(h, LRD__MAGIC, LRD__MAGIC_SIZE) != 0)
		return lrd__err(LRD_EFORMAT, "not a larder file (bad magic)");
	int rc = lrd__reader_get(&f->channel, h + LRD__MAGIC_SIZE, sizeof h - LRD__MAGIC_SIZE);
	if (rc)
		return lrd__errctx(rc, "file header");
	unsigned major = lrd__get_u16(h + 8), minor = lrd__get_u16(h + 10);
	if (major > LRD_FORMAT_MAJOR)
		return lrd__err(LRD_EVERSION,
		                "format %u.%u is newer than this reader (%d.%d); upgrade larder",
		                major, minor, LRD_FORMAT_MAJOR, LRD_FORMAT_MINOR);
	if (major == 0)
		return lrd__err(LRD_ECORRUPT, "format version 0.%u does not exist", minor);
	if (info) {
		info->major = major;
		info->minor = minor;
		memcpy(info->writer, h + 16, 16);
		info->writer[16] = '\0';
		for (int i = 0; i < 16; i++)
			if (info->writer[i] && (info->writer[i] < 0x20 || info->writer[i] > 0x7e))
				info->writer[i] = '?';
	}
	return LRD_OK;
}

int lrd__file_reader_data(lrd__file_reader *f, void *p, size_t n)
{
	f->hashing = false;
	int rc = lrd__reader_get(&f->channel, p, n);
	f->hashing = true;
	return rc;
}

int lrd__file_reader_skipdata(lrd__file_reader *f, uint64_t n)
{
	f->hashing = false;
	lrd__reader tmp = f->channel;
	tmp.skip = frd_skip;
	int rc = lrd__reader_skip(&tmp, n);
	f->channel.pos = tmp.pos;
	f->channel.avail = tmp.avail;
	f->hashing = true;
	return rc;
}

int lrd__file_reader_trailer(lrd__file_reader *f)
{
	uint8_t t[LRD__TRAILER_SIZE];
	uint64_t sum = f->h ? (uint64_t)XXH3_64bits_digest(f->h) : 0;
	f->hashing = false;
	int rc = lrd__reader_get(&f->channel, t, sizeof t);
	if (rc)
		return lrd__errctx(rc, "file trailer");
	if (memcmp(t + 8, LRD__END_MAGIC, 8) != 0)
		return lrd__err(LRD_ECORRUPT, "file trailer at offset %llu: bad end magic",
		                (unsigned long long)(f->channel.pos - LRD__TRAILER_SIZE));
	if (f->h && lrd__get_u64(t) != sum)
		return lrd__err(LRD_ECHECKSUM,
		                "meta checksum mismatch: trailer 0x%016llx, file 0x%016llx",
		                (unsigned long long)lrd__get_u64(t), (unsigned long long)sum);
	return LRD_OK;
}

/* ---- options --------------------------------------------------------------------------------- */

int lrd__dump_config_resolve(const lrd_dump_options *o, const char *path, lrd__dump_config *cfg)
{
	lrd_dump_options d = o ? *o : (lrd_dump_options){0};
	*cfg =
	    (lrd__dump_config){.chunk_size = d.chunk_size ? d.chunk_size : LRD_CHUNK_SIZE_DEFAULT};
	int rc = LRD__RESERVED_CHECK(&d, "lrd_dump_options");
	if (!rc)
		rc = LRD__RESERVED_CHECK(&d.chunk_params, "lrd_dump_options.chunk_params");
	if (rc)
		return rc;
	if ((rc = lrd_chunk_size_check(cfg->chunk_size)))
		return rc;
	int level = 0, chunk_level = 0;
	if (d.codec)
		rc = lrd_codec_parse(d.codec, LRD_CODEC_STREAM, &cfg->whole, &level);
	else if (path)
		cfg->whole = lrd_codec_by_filename(path);
	if (!rc && cfg->whole && !(cfg->whole->flags & LRD_CODEC_STREAM))
		rc = lrd__err(LRD_ECODEC,
		              "'%s': codec '%s' (from the suffix) cannot compress whole files",
		              path, cfg->whole->name);
	if (!rc && d.chunk_codec)
		rc = lrd_codec_parse(d.chunk_codec, LRD_CODEC_CHUNK, &cfg->chunk, &chunk_level);
	/* a level in the spec ("gzip:9") wins over the level field */
	cfg->whole_p.level = level ? level : d.level;
	if (chunk_level)
		d.chunk_params.level = chunk_level;
	if (!rc)
		rc = lrd__codec_level_check(cfg->whole, cfg->whole_p.level);
	if (!rc)
		rc = lrd__codec_level_check(cfg->chunk, d.chunk_params.level);
	if (rc)
		return rc;
	cfg->threads = d.threads;
	/* an array writer keeps the parameters: own the inner name */
	return lrd__codec_params_copy(&cfg->chunk_p, &d.chunk_params);
}

void lrd__dump_config_destroy(lrd__dump_config *cfg) { lrd__codec_params_release(&cfg->chunk_p); }

/* ---- other formats --------------------------------------------------------------------------- */

const char *lrd__magic_name(const uint8_t *h, size_t n)
{
	static const struct {
		const char *magic;
		size_t len;
		const char *name;
	} known[] = {
	    {"\x89HDF\r\n\x1a\n", 8, "HDF5"},
	    {"\x93NUMPY", 6, "numpy .npy"},
	    {"PK\x03\x04", 4, "zip (numpy .npz?)"},
	    {"\x89PNG", 4, "PNG"},
	    {"\x7f"
	     "ELF",
	     4, "ELF executable"},
	    {"%PDF", 4, "PDF"},
	    {"SQLite format 3", 15, "SQLite"},
	    {"CDF\x01", 4, "netCDF"},
	    {"\x89LRD", 4, "a damaged larder header"},
	};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (n >= known[i].len && memcmp(h, known[i].magic, known[i].len) == 0)
			return known[i].name;
	if (n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5)
		return "Python pickle (joblib?)";
	return NULL;
}

const char *lrd_magic_describe(const void *head, size_t n)
{
	return head ? lrd__magic_name(head, n) : NULL;
}
