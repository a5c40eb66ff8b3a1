/*
 * aci-containers-cni, the native fast path of the CNI plugin.
 *
 * Why C: the runtime starts the plugin for every pod sandbox, and on the
 * development machine node alone takes 40-150 ms to start (the zod-bearing
 * bundle 220+ ms), against 2-5 ms for this program (docs/performance.md).
 * It decides nothing: it hands the CNI environment and stdin, untouched, to
 * the host agent's CNI server, which runs the same plugin logic as the node
 * plugin (agents/cni/plugin.ts) and answers with the exit code and the
 * stdout to print. So there is one implementation of the CNI semantics.
 *
 * Whenever the fast path cannot answer (no server on the socket, a config it
 * cannot scan, a broken exchange), it execs the node plugin next to it
 * (aci-containers-node aci-containers-cni.mjs, as cni-install lays them
 * out) with the same environment and stdin, which then reports the CNI
 * error the node plugin always reported.
 *
 * Protocol (docs/cni.md): one request per connection,
 *   {"protocol":1,"plugin":{"env":{"CNI_COMMAND":"ADD",...},"stdin":"..."}}
 * half-close, then the answer "<exit code>\n<stdout bytes>" and close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE (1 << 20) /* MaxMessageBytes of protocol.ts */
#define DEFAULT_SOCKET "/run/aci-containers/cni.sock"
#define TIMEOUT_MS 120000 /* callServer's default */
#ifndef CNI_VERSION_ANSWER
#error "build.ts passes CNI_VERSION_ANSWER, the node plugin's VERSION output"
#endif
#define FALLBACK_NODE "aci-containers-node"
#define FALLBACK_BUNDLE "aci-containers-cni.mjs"

static const char *const forwarded_env[] = {
    "CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", NULL,
};

struct buf {
  char *data;
  size_t len, cap;
};

static int buf_put(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

static int buf_str(struct buf *b, const char *s) { return buf_put(b, s, strlen(s)); }

/* A JSON string literal of s[0..n). */
static int buf_json(struct buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (buf_put(b, "\"", 1)) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[7];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      if (buf_put(b, esc, 2)) return -1;
    } else if (c < 0x20) {
      esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0';
      esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
      if (buf_put(b, esc, 6)) return -1;
    } else if (buf_put(b, (const char *)&c, 1)) {
      return -1;
    }
  }
  return buf_put(b, "\"", 1);
}

/* --- a scanner for one top-level string member of a JSON object ---------- */

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* Past a string starting at p (on its quote); NULL if unterminated. */
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}

/* Past one JSON value of any kind; NULL if malformed. */
static const char *skip_value(const char *p, const char *end) {
  p = skip_ws(p, end);
  if (p >= end) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    for (; p < end; p++) {
      if (*p == '"') {
        p = skip_string(p, end);
        if (!p) return NULL;
        p--;
      } else if (*p == '{' || *p == '[') {
        depth++;
      } else if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
    }
    return NULL;
  }
  while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
         *p != '\r' && *p != '\t')
    p++;
  return p;
}

enum scan { FOUND, ABSENT, UNSURE };

/*
 * Finds the top-level member `key` of the object in text. FOUND: its value
 * is a string without escapes, copied into out. ABSENT: the object has no
 * such member. UNSURE: anything else (not an object, malformed, escaped or
 * non-string value, too long): the node plugin decides then.
 */
static enum scan scan_member(const char *text, size_t n, const char *key, char *out,
                             size_t outsz) {
  const char *p = skip_ws(text, text + n), *end = text + n;
  size_t klen = strlen(key);
  enum scan result = ABSENT;
  if (p >= end || *p != '{') return UNSURE;
  p = skip_ws(p + 1, end);
  if (p < end && *p == '}') return ABSENT;
  for (;;) {
    if (p >= end || *p != '"') return UNSURE;
    const char *kstart = p + 1, *kend = skip_string(p, end);
    if (!kend) return UNSURE;
    int match = (size_t)(kend - 1 - kstart) == klen && memcmp(kstart, key, klen) == 0;
    p = skip_ws(kend, end);
    if (p >= end || *p != ':') return UNSURE;
    p = skip_ws(p + 1, end);
    const char *vend = skip_value(p, end);
    if (!vend) return UNSURE;
    if (match) {
      /* A repeated key: JSON.parse keeps the last one, so must we; give up instead. */
      if (result != ABSENT) return UNSURE;
      if (*p != '"') return UNSURE;
      size_t vlen = (size_t)(vend - p) - 2;
      if (vlen + 1 > outsz || memchr(p + 1, '\\', vlen)) return UNSURE;
      memcpy(out, p + 1, vlen);
      out[vlen] = '\0';
      result = FOUND;
    }
    p = skip_ws(vend, end);
    if (p < end && *p == ',') {
      p = skip_ws(p + 1, end);
      continue;
    }
    if (p < end && *p == '}') {
      p = skip_ws(p + 1, end);
      return p == end ? result : UNSURE;
    }
    return UNSURE;
  }
}

/* --- fallback: the node plugin, same environment, same stdin -------------- */

static void fallback(const char *input, size_t n) {
  char self[PATH_MAX], node[PATH_MAX], bundle[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) goto fail;
  self[len] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash) goto fail;
  *slash = '\0';
  if (snprintf(node, sizeof node, "%s/%s", self, FALLBACK_NODE) >= (int)sizeof node) goto fail;
  if (snprintf(bundle, sizeof bundle, "%s/%s", self, FALLBACK_BUNDLE) >= (int)sizeof bundle)
    goto fail;
  /* stdin was consumed: hand the node plugin a copy of it as its stdin. */
  int fd = memfd_create("cni-stdin", 0);
  if (fd < 0) goto fail;
  for (size_t off = 0; off < n;) {
    ssize_t w = write(fd, input + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) goto fail;
    off += (size_t)w;
  }
  if (lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) < 0) goto fail;
  close(fd);
  execl(node, node, bundle, (char *)NULL);
fail:;
  /* No node plugin either: the one answer left is the CNI error the runtime retries. */
  char version[64] = "1.0.0";
  if (scan_member(input, n, "cniVersion", version, sizeof version) != FOUND)
    strcpy(version, "1.0.0");
  printf("{\"cniVersion\":\"%s\",\"code\":11,\"msg\":\"the host agent CNI server is not "
         "reachable and the node plugin could not be started\",\"details\":\"%s\"}\n",
         version, strerror(errno));
  exit(1);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(void) {
  struct buf in = {0}, req = {0}, ans = {0};
  char chunk[65536];

  /* VERSION may come without stdin (the node plugin waits 1 s for it); a TTY means none. */
  const char *command = getenv("CNI_COMMAND");
  int is_version = command && strcmp(command, "VERSION") == 0;
  if (!isatty(0)) {
    for (;;) {
      if (is_version) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        if (poll(&pfd, 1, 1000) <= 0) break;
      }
      ssize_t r = read(0, chunk, sizeof chunk);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) fallback(in.data ? in.data : "", in.len);
      if (r == 0) break;
      if (in.len + (size_t)r > MAX_MESSAGE || buf_put(&in, chunk, (size_t)r))
        fallback(in.data, in.len);
    }
  }
  const char *input = in.data ? in.data : "";
  if (is_version) {
    /* The same answer as the node plugin, whatever the input: it needs no server. */
    puts(CNI_VERSION_ANSWER);
    return 0;
  }

  char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  enum scan socket_scan = scan_member(input, in.len, "serverSocket", socket_path, sizeof socket_path);
  if (socket_scan == ABSENT)
    strcpy(socket_path, DEFAULT_SOCKET);
  else if (socket_scan == UNSURE || socket_path[0] == '\0') /* the node plugin reports it */
    fallback(input, in.len);

  if (buf_str(&req, "{\"protocol\":1,\"plugin\":{\"env\":{")) fallback(input, in.len);
  int first = 1;
  for (const char *const *name = forwarded_env; *name; name++) {
    const char *value = getenv(*name);
    if (!value) continue;
    if ((!first && buf_str(&req, ",")) || buf_json(&req, *name, strlen(*name)) ||
        buf_str(&req, ":") || buf_json(&req, value, strlen(value)))
      fallback(input, in.len);
    first = 0;
  }
  if (buf_str(&req, "},\"stdin\":") || buf_json(&req, input, in.len) || buf_str(&req, "}}"))
    fallback(input, in.len);

  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, socket_path);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0)
    fallback(input, in.len);
  for (size_t off = 0; off < req.len;) {
    ssize_t w = send(sock, req.data + off, req.len - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fallback(input, in.len);
    off += (size_t)w;
  }
  shutdown(sock, SHUT_WR);
  long long deadline = now_ms() + TIMEOUT_MS;
  for (;;) {
    long long left = deadline - now_ms();
    struct pollfd pfd = {.fd = sock, .events = POLLIN};
    int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      /* Retrying through the node plugin would wait as long again: answer like it does. */
      char version[64];
      if (scan_member(input, in.len, "cniVersion", version, sizeof version) != FOUND)
        strcpy(version, "1.0.0");
      printf("{\"cniVersion\":\"%s\",\"code\":5,\"msg\":\"failed to talk to the host agent CNI "
             "server\",\"details\":\"no answer from the CNI server within %d ms\"}\n",
             version, TIMEOUT_MS);
      return 1;
    }
    ssize_t r = read(sock, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fallback(input, in.len);
    if (r == 0) break;
    if (ans.len + (size_t)r > MAX_MESSAGE || buf_put(&ans, chunk, (size_t)r))
      fallback(input, in.len);
  }
  close(sock);

  /* "<exit code>\n<stdout>"; anything else (an older server) goes to the node plugin. */
  char *nl = ans.data ? memchr(ans.data, '\n', ans.len) : NULL;
  if (!nl || nl == ans.data || nl - ans.data > 3) fallback(input, in.len);
  int code = 0;
  for (char *p = ans.data; p < nl; p++) {
    if (*p < '0' || *p > '9') fallback(input, in.len);
    code = code * 10 + (*p - '0');
  }
  size_t out_len = ans.len - (size_t)(nl + 1 - ans.data);
  for (size_t off = 0; off < out_len;) {
    ssize_t w = write(1, nl + 1 + off, out_len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 1;
    off += (size_t)w;
  }
  return code;
}
