/* ceiling: the cheapest tcp_table server there can be, a measuring instrument.
 *
 * Usage: ceiling PORT   (listens on 127.0.0.1:PORT, runs until killed)
 *
 * One thread, epoll, non-blocking sockets. Every request line is answered "500 ceiling\n"
 * without looking at it: no parsing, no SRS work. What a tcp_table client reaches against it
 * is what the clients, the kernel and the machine allow; a daemon's distance from it is the
 * CPU its own work per lookup costs. Replies not yet accepted by the kernel are counted per
 * connection and sent when the socket is writable again (a client that hangs up forfeits them).
 * Build: cc -O2 -o ceiling ceiling.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY "500 ceiling\n"
#define REPLY_LEN (sizeof(REPLY) - 1)
#define MAX_FDS 65536
#define BATCH 256

static unsigned long owed[MAX_FDS];   /* whole replies still to send, per descriptor */
static unsigned sent_part[MAX_FDS];   /* bytes of the next reply already sent */
static char replies[BATCH * REPLY_LEN];

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    owed[fd] = 0;
    sent_part[fd] = 0;
}

/* Send what is owed; 0 when all is sent, 1 when the socket is full, -1 on error. */
static int flush(int fd) {
    while (owed[fd]) {
        unsigned long n = owed[fd] < BATCH ? owed[fd] : BATCH;
        size_t len = n * REPLY_LEN - sent_part[fd];
        ssize_t w = send(fd, replies + sent_part[fd], len, MSG_NOSIGNAL);
        if (w < 0)
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
        size_t done = sent_part[fd] + (size_t)w;
        owed[fd] -= done / REPLY_LEN;
        sent_part[fd] = done % REPLY_LEN;
    }
    return 0;
}

static void serve(int ep, int fd, unsigned events) {
    char buf[65536];
    if (events & EPOLLIN) {
        for (;;) {
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                drop(ep, fd);
                return;
            }
            if (r < 0)
                break;
            for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + r - p))); p++)
                owed[fd]++;
        }
    }
    int state = flush(fd);
    if (state < 0) {
        drop(ep, fd);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | (state ? EPOLLOUT : 0), .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < BATCH; i++)
        memcpy(replies + i * REPLY_LEN, REPLY, REPLY_LEN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 1024)) {
        perror("ceiling: listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, ready[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (;;) {
        int n = epoll_wait(ep, ready, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd != ls) {
                serve(ep, fd, ready[i].events);
                continue;
            }
            int c;
            while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                if (c >= MAX_FDS) {
                    close(c);
                    continue;
                }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
            }
        }
    }
}
