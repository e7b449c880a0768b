/* larder — persistence, memoization and parallel maps for C on an embedded LMDB store.
 * Umbrella header: includes every public module header. */
#ifndef LARDER_H
#define LARDER_H

#include "larder/common.h"
#include "larder/error.h"
#include "larder/version.h"
#include "larder/codec.h"
#include "larder/value.h"
#include "larder/message.h"
#include "larder/io.h"
#include "larder/file.h"
#include "larder/npy.h"
#include "larder/store.h"
#include "larder/memo.h"
#include "larder/parallel.h"

#endif
