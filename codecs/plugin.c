/* Plugin loading. Not implemented yet: no plugin directory is scanned and explicit loads are
 * refused. (Work in progress; replaced by the dlopen loader.) */
#include "codecs/codec_internal.h"

void lrd__plugins_scan(void) {}

int lrd_codec_load_plugin(const char *path, size_t *count)
{
	if (count)
		*count = 0;
	return lrd__err(LRD_EUNSUPPORTED, "plugin loading not built yet: %s", path ? path : "(null)");
}

int lrd_codec_plugin_failure(size_t i, const char **path, int *code, const char **msg)
{
	return LRD_ENOTFOUND;
}
