/*
 * berth's zero-copy blob sender (Linux): one thread with its own epoll instance sends file bytes to sockets with
 * non-blocking sendfile(2), waiting for room with EPOLLOUT|EPOLLONESHOT; JS learns of each job's end through a
 * thread-safe function. The thread works on dup()s of the socket and the file, so a JS-side close during a transfer
 * never makes it write into a reused descriptor number; libuv's threadpool is never used.
 *
 * JS API: init(onDone(id, errno, sent)); send(socketFd, fileFd, offset, length) -> id; cancel(id);
 * progress(id) -> bytes sent so far (-1 once the job is gone); jobs() -> jobs not yet ended.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* what one job sends before the other jobs get their turn (the thread re-arms it through epoll) */
#define QUANTUM (4 * 1024 * 1024)

static int fcntl_dup(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

typedef struct job {
  uint32_t id;
  int sock, file;  /* the thread's own dups */
  int64_t off, end; /* the next byte to send and the end (exclusive) */
  int64_t sent;
  int fresh, ready, cancel, done;
  struct job *next;
} job_t;

typedef struct {
  pthread_t thread;
  pthread_mutex_t mu;
  int ep, wake, started, stopping;
  uint32_t next_id;
  job_t *jobs; /* all jobs not yet ended, guarded by mu; only the thread frees them */
  napi_threadsafe_function tsfn;
} sender_t;

typedef struct {
  uint32_t id;
  int err;
  double sent;
} result_t;

static void call_js(napi_env env, napi_value fn, void *ctx, void *data) {
  result_t *r = data;
  if (env != NULL && fn != NULL) {
    napi_value argv[3], undef;
    napi_create_uint32(env, r->id, &argv[0]);
    napi_create_int32(env, r->err, &argv[1]);
    napi_create_double(env, r->sent, &argv[2]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, fn, 3, argv, NULL);
  }
  free(r);
}

/* Ends a job (mu held): out of epoll before its dups close (an epoll entry outlives a dup whose twin stays open). */
static void finish(sender_t *s, job_t *j, int err) {
  if (j->done) return;
  j->done = 1;
  epoll_ctl(s->ep, EPOLL_CTL_DEL, j->sock, NULL);
  close(j->sock);
  close(j->file);
  if (j->cancel) return; /* JS has let go of it already */
  result_t *r = malloc(sizeof *r);
  if (r == NULL) return;
  r->id = j->id;
  r->err = err;
  r->sent = (double)j->sent;
  if (napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_nonblocking) != napi_ok) free(r);
}

static void arm(sender_t *s, job_t *j, int op) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLOUT | EPOLLONESHOT;
  ev.data.ptr = j;
  if (epoll_ctl(s->ep, op, j->sock, &ev) != 0) finish(s, j, errno);
}

/* Sends what the socket takes, up to QUANTUM (mu held, released around each sendfile). */
static void pump(sender_t *s, job_t *j) {
  int64_t budget = QUANTUM;
  while (budget > 0 && j->off < j->end && !j->cancel) {
    int64_t want = j->end - j->off;
    if (want > budget) want = budget;
    off_t at = (off_t)j->off;
    int sock = j->sock, file = j->file;
    pthread_mutex_unlock(&s->mu);
    ssize_t n = sendfile(sock, file, &at, (size_t)want);
    int err = errno;
    pthread_mutex_lock(&s->mu);
    if (n > 0) {
      j->off += n;
      j->sent += n;
      budget -= n;
      continue;
    }
    if (n == 0) return finish(s, j, EIO); /* the file is shorter than its length */
    if (err == EINTR) continue;
    if (err == EAGAIN) break;
    return finish(s, j, err);
  }
  if (j->cancel) return finish(s, j, ECANCELED);
  if (j->off >= j->end) return finish(s, j, 0);
  arm(s, j, EPOLL_CTL_MOD);
}

static void *run(void *arg) {
  sender_t *s = arg;
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(s->ep, evs, 64, -1);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
      for (job_t *j = s->jobs; j != NULL; j = j->next) {
        j->cancel = 1;
        finish(s, j, ECANCELED);
      }
      pthread_mutex_unlock(&s->mu);
      return NULL;
    }
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        uint64_t v;
        (void)!read(s->wake, &v, sizeof v);
      } else {
        ((job_t *)evs[i].data.ptr)->ready = 1;
      }
    }
    for (job_t *j = s->jobs; j != NULL; j = j->next) {
      if (j->done) continue;
      if (j->cancel) {
        finish(s, j, ECANCELED);
      } else if (j->fresh) {
        j->fresh = 0;
        arm(s, j, EPOLL_CTL_ADD);
      } else if (j->ready) {
        j->ready = 0;
        pump(s, j);
      }
    }
    job_t **p = &s->jobs;
    while (*p != NULL) {
      job_t *j = *p;
      if (j->done) {
        *p = j->next;
        free(j);
      } else {
        p = &j->next;
      }
    }
    pthread_mutex_unlock(&s->mu);
  }
}

static void poke(sender_t *s) {
  uint64_t one = 1;
  (void)!write(s->wake, &one, sizeof one);
}

/* The env's cleanup hook, added after the tsfn was made so that it runs before the tsfn's own: stops the thread. */
static void stop(void *arg) {
  sender_t *s = arg;
  pthread_mutex_lock(&s->mu);
  s->stopping = 1;
  pthread_mutex_unlock(&s->mu);
  poke(s);
  pthread_join(s->thread, NULL);
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
}

static void cleanup(napi_env env, void *arg, void *hint) {
  sender_t *s = arg;
  for (job_t *j = s->jobs; j != NULL;) {
    job_t *next = j->next;
    free(j);
    j = next;
  }
  close(s->ep);
  close(s->wake);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static sender_t *state(napi_env env) {
  sender_t *s = NULL;
  napi_get_instance_data(env, (void **)&s);
  return s;
}

static napi_value fail(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value js_init(napi_env env, napi_callback_info info) {
  sender_t *s = state(env);
  size_t argc = 1;
  napi_value fn, name;
  napi_get_cb_info(env, info, &argc, &fn, NULL, NULL);
  if (s->started) return NULL;
  napi_create_string_utf8(env, "berth-sendfile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, fn, NULL, name, 0, 1, NULL, NULL, NULL, call_js, &s->tsfn) != napi_ok)
    return NULL;
  /* the sender never keeps the process alive: sockets in flight do */
  napi_unref_threadsafe_function(env, s->tsfn);
  int err = pthread_create(&s->thread, NULL, run, s);
  if (err != 0) {
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    return fail(env, "pthread_create", err);
  }
  s->started = 1;
  napi_add_env_cleanup_hook(env, stop, s);
  return NULL;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  sender_t *s = state(env);
  size_t argc = 4;
  napi_value argv[4], out;
  int32_t sock, file;
  int64_t off, len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!s->started) return fail(env, "send before init", EINVAL);
  if (argc < 4 || napi_get_value_int32(env, argv[0], &sock) != napi_ok ||
      napi_get_value_int32(env, argv[1], &file) != napi_ok || napi_get_value_int64(env, argv[2], &off) != napi_ok ||
      napi_get_value_int64(env, argv[3], &len) != napi_ok || sock < 0 || file < 0 || off < 0 || len <= 0)
    return fail(env, "send(socketFd, fileFd, offset, length)", EINVAL);
  job_t *j = calloc(1, sizeof *j);
  if (j == NULL) return fail(env, "send", ENOMEM);
  j->sock = fcntl_dup(sock);
  j->file = j->sock < 0 ? -1 : fcntl_dup(file);
  if (j->sock < 0 || j->file < 0) {
    int err = errno;
    if (j->sock >= 0) close(j->sock);
    free(j);
    return fail(env, "dup", err);
  }
  j->off = off;
  j->end = off + len;
  j->fresh = 1;
  pthread_mutex_lock(&s->mu);
  uint32_t id = j->id = ++s->next_id;
  j->next = s->jobs;
  s->jobs = j;
  pthread_mutex_unlock(&s->mu);
  /* from here the job is the thread's: it may end and be freed at once */
  poke(s);
  napi_create_uint32(env, id, &out);
  return out;
}

static job_t *find(sender_t *s, uint32_t id) {
  for (job_t *j = s->jobs; j != NULL; j = j->next)
    if (j->id == id && !j->done) return j;
  return NULL;
}

static napi_value js_cancel(napi_env env, napi_callback_info info) {
  sender_t *s = state(env);
  size_t argc = 1;
  napi_value arg;
  uint32_t id = 0;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  napi_get_value_uint32(env, arg, &id);
  pthread_mutex_lock(&s->mu);
  job_t *j = find(s, id);
  if (j != NULL) j->cancel = 1;
  pthread_mutex_unlock(&s->mu);
  if (j != NULL) poke(s);
  return NULL;
}

static napi_value js_progress(napi_env env, napi_callback_info info) {
  sender_t *s = state(env);
  size_t argc = 1;
  napi_value arg, out;
  uint32_t id = 0;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  napi_get_value_uint32(env, arg, &id);
  pthread_mutex_lock(&s->mu);
  job_t *j = find(s, id);
  double sent = j == NULL ? -1 : (double)j->sent;
  pthread_mutex_unlock(&s->mu);
  napi_create_double(env, sent, &out);
  return out;
}

static napi_value js_jobs(napi_env env, napi_callback_info info) {
  sender_t *s = state(env);
  uint32_t n = 0;
  napi_value out;
  pthread_mutex_lock(&s->mu);
  for (job_t *j = s->jobs; j != NULL; j = j->next) n++;
  pthread_mutex_unlock(&s->mu);
  napi_create_uint32(env, n, &out);
  return out;
}

NAPI_MODULE_INIT() {
  sender_t *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  pthread_mutex_init(&s->mu, NULL);
  s->ep = epoll_create1(EPOLL_CLOEXEC);
  s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.ptr = NULL;
  if (s->ep < 0 || s->wake < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->wake, &ev) != 0) {
    fail(env, "epoll", errno);
    return NULL;
  }
  napi_set_instance_data(env, s, cleanup, NULL);
  napi_property_descriptor props[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_default, NULL},
      {"progress", NULL, js_progress, NULL, NULL, NULL, napi_default, NULL},
      {"jobs", NULL, js_jobs, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
