/* Library version, from AC_INIT through the generated larder/version.h. */
#include "larder/version.h"

const char *lrd_version_string(void) { return LRD_VERSION_STRING; }

int lrd_version_number(void) { return LRD_VERSION_NUMBER; }
