/*
 * A minimal PKCS#11 library for the supervisor tests: one slot with one token, PIN "1234"
 * (locked after three wrong tries), sessions that can log in and "sign" (four fixed bytes).
 *
 * Compiled by the tests with `cc -shared -fPIC`, once per misbehaviour:
 *   -DHANG_INITIALIZE      C_Initialize never returns
 *   -DABORT_INITIALIZE     C_Initialize calls abort()
 *   -DABORT_GET_SLOT_LIST  C_GetSlotList calls abort()
 *   -DABORT_SIGN           C_Sign calls abort(), so a request in flight is hit
 *
 * `cargo xtask cross` also builds the plain variant as a Windows DLL (mingw-w64, with
 * `-fpack-struct=1`: PKCS#11 packs its structures on Windows) for the connector under wine.
 *
 * Every variant also chats on stdout, as some vendor libraries do: the worker must keep that out
 * of its protocol stream.
 *
 * The types are our own minimal definitions of the PKCS#11 v2.40 ABI, not the OASIS headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef unsigned long ulong_t;
typedef ulong_t rv_t;
typedef void (*any_fn)(void);

#define RV_OK 0x000UL
#define RV_FUNCTION_NOT_SUPPORTED 0x054UL
#define RV_PIN_INCORRECT 0x0A0UL
#define RV_PIN_LOCKED 0x0A4UL
#define RV_BUFFER_TOO_SMALL 0x150UL

#define TOKEN_PRESENT 0x1UL
#define LOGIN_REQUIRED 0x4UL
#define USER_PIN_INITIALIZED 0x8UL
#define TOKEN_INITIALIZED 0x400UL
#define USER_PIN_COUNT_LOW 0x10000UL
#define USER_PIN_FINAL_TRY 0x20000UL
#define USER_PIN_LOCKED 0x40000UL

struct version { unsigned char major, minor; };

struct slot_info {
    unsigned char description[64];
    unsigned char manufacturer[32];
    ulong_t flags;
    struct version hardware, firmware;
};

struct token_info {
    unsigned char label[32];
    unsigned char manufacturer[32];
    unsigned char model[16];
    unsigned char serial[16];
    ulong_t flags;
    ulong_t counts[10];
    struct version hardware, firmware;
    unsigned char utc_time[16];
};

/* The 68 entry points of a v2.40 function list, in order, after the version. */
struct function_list {
    struct version version;
    any_fn entries[68];
};

enum {
    INITIALIZE = 0, FINALIZE = 1, GET_FUNCTION_LIST = 3, GET_SLOT_LIST = 4, GET_SLOT_INFO = 5,
    GET_TOKEN_INFO = 6, OPEN_SESSION = 12, CLOSE_SESSION = 13, CLOSE_ALL_SESSIONS = 14,
    LOGIN = 18, LOGOUT = 19, SIGN_INIT = 42, SIGN = 43,
};

static int wrong_tries;

static void pad(unsigned char *field, size_t size, const char *text) {
    memset(field, ' ', size);
    memcpy(field, text, strlen(text) < size ? strlen(text) : size);
}

static rv_t not_supported(void) { return RV_FUNCTION_NOT_SUPPORTED; }

static rv_t initialize(void *args) {
    (void)args;
    fputs("fake token: C_Initialize\n", stdout);
    fflush(stdout);
#ifdef HANG_INITIALIZE
    for (;;) pause();
#endif
#ifdef ABORT_INITIALIZE
    abort();
#endif
    return RV_OK;
}

static rv_t finalize(void *reserved) { (void)reserved; return RV_OK; }

static rv_t get_slot_list(unsigned char present, ulong_t *list, ulong_t *count) {
    (void)present;
#ifdef ABORT_GET_SLOT_LIST
    abort();
#endif
    if (list && *count < 1) { *count = 1; return RV_BUFFER_TOO_SMALL; }
    if (list) list[0] = 1;
    *count = 1;
    return RV_OK;
}

static rv_t get_slot_info(ulong_t slot, struct slot_info *info) {
    (void)slot;
    memset(info, 0, sizeof *info);
    pad(info->description, sizeof info->description, "Fake slot");
    pad(info->manufacturer, sizeof info->manufacturer, "T1C tests");
    info->flags = TOKEN_PRESENT;
    return RV_OK;
}

static rv_t get_token_info(ulong_t slot, struct token_info *info) {
    (void)slot;
    printf("fake token: C_GetTokenInfo\n");
    fflush(stdout);
    memset(info, 0, sizeof *info);
    pad(info->label, sizeof info->label, "Fake token");
    pad(info->manufacturer, sizeof info->manufacturer, "T1C tests");
    pad(info->model, sizeof info->model, "fake");
    pad(info->serial, sizeof info->serial, "0001");
    info->flags = LOGIN_REQUIRED | USER_PIN_INITIALIZED | TOKEN_INITIALIZED;
    if (wrong_tries == 1) info->flags |= USER_PIN_COUNT_LOW;
    if (wrong_tries == 2) info->flags |= USER_PIN_COUNT_LOW | USER_PIN_FINAL_TRY;
    if (wrong_tries >= 3) info->flags |= USER_PIN_LOCKED;
    info->counts[4] = 8; /* max PIN length */
    info->counts[5] = 4; /* min PIN length */
    return RV_OK;
}

static rv_t open_session(ulong_t slot, ulong_t flags, void *app, void *notify, ulong_t *session) {
    (void)slot; (void)flags; (void)app; (void)notify;
    *session = 1;
    return RV_OK;
}

static rv_t close_session(ulong_t session) { (void)session; return RV_OK; }
static rv_t close_all_sessions(ulong_t slot) { (void)slot; return RV_OK; }

static rv_t login(ulong_t session, ulong_t user, const unsigned char *pin, ulong_t len) {
    (void)session; (void)user;
    if (wrong_tries >= 3) return RV_PIN_LOCKED;
    if (pin && len == 4 && memcmp(pin, "1234", 4) == 0) { wrong_tries = 0; return RV_OK; }
    wrong_tries++;
    return wrong_tries >= 3 ? RV_PIN_LOCKED : RV_PIN_INCORRECT;
}

static rv_t logout(ulong_t session) { (void)session; return RV_OK; }

static rv_t sign_init(ulong_t session, void *mechanism, ulong_t key) {
    (void)session; (void)mechanism; (void)key;
    return RV_OK;
}

static rv_t sign(ulong_t session, const unsigned char *data, ulong_t len, unsigned char *out,
                 ulong_t *out_len) {
    (void)session; (void)data; (void)len;
#ifdef ABORT_SIGN
    abort();
#endif
    if (out && *out_len < 4) { *out_len = 4; return RV_BUFFER_TOO_SMALL; }
    if (out) memcpy(out, "\x01\x02\x03\x04", 4);
    *out_len = 4;
    return RV_OK;
}

static struct function_list functions;

rv_t C_GetFunctionList(struct function_list **list) {
    functions.version.major = 2;
    functions.version.minor = 40;
    for (int i = 0; i < 68; i++) functions.entries[i] = (any_fn)not_supported;
    functions.entries[INITIALIZE] = (any_fn)initialize;
    functions.entries[FINALIZE] = (any_fn)finalize;
    functions.entries[GET_FUNCTION_LIST] = (any_fn)C_GetFunctionList;
    functions.entries[GET_SLOT_LIST] = (any_fn)get_slot_list;
    functions.entries[GET_SLOT_INFO] = (any_fn)get_slot_info;
    functions.entries[GET_TOKEN_INFO] = (any_fn)get_token_info;
    functions.entries[OPEN_SESSION] = (any_fn)open_session;
    functions.entries[CLOSE_SESSION] = (any_fn)close_session;
    functions.entries[CLOSE_ALL_SESSIONS] = (any_fn)close_all_sessions;
    functions.entries[LOGIN] = (any_fn)login;
    functions.entries[LOGOUT] = (any_fn)logout;
    functions.entries[SIGN_INIT] = (any_fn)sign_init;
    functions.entries[SIGN] = (any_fn)sign;
    *list = &functions;
    return RV_OK;
}
