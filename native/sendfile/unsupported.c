/* Off Linux the addon builds but offers nothing: berth serves blobs through streams. */
#include <node_api.h>

NAPI_MODULE_INIT() { return exports; }
