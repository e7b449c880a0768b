/* Internal interface of the codec layer: registration without the lazy initialisation
 * (for built-ins and the plugin loader, which run inside it) and shared helpers for codec
 * implementations. */
#ifndef LRD_CODEC_INTERNAL_H
#define LRD_CODEC_INTERNAL_H

#include "base/base.h"
#include "larder/codec.h"

/* Every built-in codec (codecs/builtin.c holds the table). */
extern const lrd_codec *const lrd__builtin_codecs[];
extern const size_t lrd__builtin_codec_count;

/* Register without triggering initialisation; origin is the plugin path or NULL. */
int lrd__codec_add(const lrd_codec *c, const char *origin);
/* Register n codecs all or nothing: every one is validated and checked for clashes with the
 * table and with each other before any is added. */
int lrd__codec_add_all(const lrd_codec *const *codecs, size_t n, const char *origin);
/* Check a vtable before registration; LRD_EVERSION/LRD_EINVAL with a message. */
int lrd__codec_validate(const lrd_codec *c);
/* Scan the plugin search path (codecs/plugin.c); failures are recorded, not returned. */
void lrd__plugins_scan(void);

/* LRD_OK when a params level is one the codec takes: 0 (its default), LRD_CODEC_LEVEL_ZERO
 * when 0 is in its range, or a level in [min_level, max_level]; else LRD_EINVAL naming the
 * codec and its range. A NULL codec (raw) takes any. Every compressing entry point and every
 * options resolver calls it, so no level is ever clamped silently. */
int lrd__codec_level_check(const lrd_codec *c, int level);
/* Resolve params: level 0 → default, LRD_CODEC_LEVEL_ZERO → 0 (then clamped, for callers
 * that only ask), typesize/threads at least 1. */
lrd_codec_params lrd__codec_resolve(const lrd_codec *c, const lrd_codec_params *p);
/* Copy *src (NULL: all zero) into *dst with dst->inner duplicated, for whoever keeps params
 * beyond the call that passed them (the store, an array writer). LRD_ENOMEM. Release with
 * lrd__codec_params_release(), which accepts a zeroed struct. */
int lrd__codec_params_copy(lrd_codec_params *dst, const lrd_codec_params *src);
void lrd__codec_params_release(lrd_codec_params *p);

/* One-shot compress/decompress through a codec's own streaming form, for codecs whose
 * one-shot API is missing or weaker (multi-member input, exact size checks). Decoding accepts
 * concatenated members; output beyond cap gives LRD_EBUFSIZE. p must be resolved (the params
 * a vtable function receives), not NULL. */
int lrd__codec_oneshot(const lrd_codec *c, const lrd_codec_params *p, lrd_codec_mode mode,
                       const void *src, size_t n, void *dst, size_t cap, size_t *out);

#endif
