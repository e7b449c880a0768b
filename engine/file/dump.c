/* Dump (file.h): a value tree to a stream, with arrays emitted in line through the payload
 * writer, optionally inside a whole-file codec layer. Writes never seek. Memory: the stream
 * buffer, the codec layer's buffers and one payload writer (a chunk or two) at a time. */
#include "engine/file/dump_internal.h"

int lrd__file_output_begin(lrd__file_output *fw, lrd_stream *s, const lrd__dump_config *cfg)
{
	*fw = (lrd__file_output){.s = s, .out = lrd__stream_writer(s)};
	int rc = LRD_OK;
	if (cfg->whole) {
		if ((rc = lrd__wrap_new(s, cfg->whole, &cfg->whole_p, &fw->wrap)))
			return rc;
		fw->out = lrd__wrap_writer(fw->wrap);
	}
	if (!(rc = lrd__file_writer_init(&fw->f, &fw->out)))
		rc = lrd__file_writer_header(&fw->f);
	if (rc)
		lrd__file_output_destroy(fw);
	return rc;
}

int lrd__file_output_end(lrd__file_output *fw)
{
	int rc = lrd__file_writer_trailer(&fw->f);
	if (!rc && fw->wrap)
		rc = lrd__wrap_finish(fw->wrap);
	return rc ? rc : lrd_stream_flush(fw->s);
}

void lrd__file_output_destroy(lrd__file_output *fw)
{
	lrd__file_writer_destroy(&fw->f);
	lrd__wrap_free(fw->wrap);
	fw->wrap = NULL;
}

struct dumper {
	const lrd__dump_config *cfg;
	const lrd_value *v;
	lrd__file_writer *f;
};

static int dump_array(void *ctx, const lrd_value *arr, lrd__writer *w)
{
	struct dumper *d = ctx;
	(void)w; /* the payload goes through d->f so chunk data bypasses the meta checksum */
	lrd__payload_writer e;
	size_t n = lrd_array_nbytes(arr);
	int rc = lrd__payload_writer_begin(&e, d->f, d->cfg, lrd_array_dtype(arr), n);
	if (!rc)
		rc = lrd__payload_writer_push(&e, lrd_array_cdata(arr), n);
	if (!rc)
		rc = lrd__payload_writer_end(&e);
	lrd__payload_writer_destroy(&e);
	return rc;
}

static int dump_to(const lrd_value *v, lrd_stream *s, const lrd_dump_options *opts,
                   const char *path)
{
	lrd__dump_config cfg;
	if (!v || !s)
		return lrd__err(LRD_EINVAL, "dump: NULL value or stream");
	lrd__file_output fw;
	int rc = lrd__dump_config_resolve(opts, path, &cfg);
	if (!rc && !(rc = lrd__file_output_begin(&fw, s, &cfg))) {
		struct dumper d = {.cfg = &cfg, .v = v, .f = &fw.f};
		lrd__tree_hooks h = {.array_out = dump_array, .ctx = &d};
		rc = lrd__tree_encode(v, &fw.f.channel, &h);
		if (!rc)
			rc = lrd__file_output_end(&fw);
		lrd__file_output_destroy(&fw);
	}
	lrd__dump_config_destroy(&cfg);
	return rc;
}

int lrd_dump_stream(const lrd_value *v, lrd_stream *s, const lrd_dump_options *opts)
{
	return dump_to(v, s, opts, NULL);
}

int lrd_dump(const lrd_value *v, const char *path, const lrd_dump_options *opts)
{
	lrd_stream *s;
	if (!path)
		return lrd__err(LRD_EINVAL, "dump: NULL path");
	int rc = lrd_stream_open_path(path, "w", &s);
	if (rc)
		return rc;
	rc = dump_to(v, s, opts, path);
	if (rc) {
		lrd_stream_abort(s); /* the old file stays as it was */
		return rc;
	}
	return lrd_stream_close(s);
}

int lrd_dump_file(const lrd_value *v, FILE *f, const lrd_dump_options *opts)
{
	lrd_stream *s;
	int rc = lrd_stream_open_file(f, "w", &s);
	if (rc)
		return rc;
	rc = lrd_dump_stream(v, s, opts);
	int crc = lrd_stream_close(s);
	return rc ? rc : crc;
}

int lrd_dump_fd(const lrd_value *v, int fd, const lrd_dump_options *opts)
{
	lrd_stream *s;
	int rc = lrd_stream_open_fd(fd, "w", &s);
	if (rc)
		return rc;
	rc = lrd_dump_stream(v, s, opts);
	int crc = lrd_stream_close(s);
	return rc ? rc : crc;
}

int lrd_dump_memory(const lrd_value *v, void **data, size_t *size, const lrd_dump_options *opts)
{
	lrd_stream *s;
	if (!data || !size)
		return lrd__err(LRD_EINVAL, "dump: NULL output");
	*data = NULL;
	*size = 0;
	int rc = lrd_stream_open_membuf(&s);
	if (rc)
		return rc;
	rc = lrd_dump_stream(v, s, opts);
	if (!rc)
		rc = lrd_stream_take_memory(s, data, size);
	lrd_stream_close(s);
	return rc;
}
