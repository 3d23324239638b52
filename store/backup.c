/*
 * A consistent copy of a live database (`warden db backup`), taken by another
 * process while Warden ingests into it.
 *
 * SQLite's online backup API, not VACUUM INTO: the backup copies pages as
 * they are, while VACUUM INTO re-inserts every row and rebuilds every index
 * into the new file: on an 800 MB database, 1.6 to 2.3 s of CPU against 3.3
 * to 4.0 s (README "Backup"), CPU taken from the cores ingest shares with the
 * broker, with no progress to show and no clean way to stop half-way.
 *
 * The copy is one snapshot: the source's read transaction is opened before
 * the first step and held to the last. Without it every step would start a
 * read transaction of its own, and SQLite restarts a backup from page 1
 * whenever another connection has committed since the last step, which a
 * running ingester does several times a second: the backup would never end.
 * In WAL mode a reader holds up no writer, so ingest goes on unhindered; what
 * the snapshot holds back is the checkpoint, so the WAL grows by what is
 * written meanwhile and is reused once the backup ends. The steps are there
 * to report progress and to notice a stop request between them.
 *
 * The copy is written to a temporary file beside FILE, created 0640 (it holds
 * everything the database does), synced, then renamed into place, so FILE is
 * either absent, the previous file, or the whole copy.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_STEP_PAGES 2048 /* 8 MiB at the default page size */
#define BACKUP_MODE 0640

/* The error kind of an SQLite result, with its message in err. */
static enum store_err backup_sqlite_err(sqlite3 *db, int rc, const char *what, char *err,
                                        size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return (rc & 0xff) == SQLITE_FULL ? STORE_ERR_FULL : STORE_ERR_IO;
}

static enum store_err backup_errno(const char *what, char *err, size_t errlen)
{
    int e = errno;

    snprintf(err, errlen, "%s: %s", what, strerror(e));
    return e == ENOSPC || e == EDQUOT ? STORE_ERR_FULL : STORE_ERR_IO;
}

/*
 * Open the source read-only (a backup must not migrate or create anything)
 * and start the read transaction that every step reads from.
 */
static enum store_err backup_open_source(const char *path, sqlite3 **db, int *schema, char *err,
                                         size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(*db, 5000);
        rc = sqlite3_exec(*db, "BEGIN", NULL, NULL, NULL);
    }
    /* The first read opens the transaction; user_version says whose file it is. */
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(*db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *schema = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return backup_sqlite_err(*db, rc, path, err, errlen);
    if (*schema < 1) {
        snprintf(err, errlen, "%s: not a Warden database (user_version 0)", path);
        return STORE_ERR_INVALID;
    }
    return STORE_OK;
}

/*
 * Pages a step, and a pause after each: WARDEN_TEST_BACKUP_STEP=PAGES:MS (a
 * test-only switch) makes a small database take many steps, with commits of
 * the ingester between them.
 */
static int backup_step_pages(int *pause_ms)
{
    const char *hook = getenv("WARDEN_TEST_BACKUP_STEP");
    int pages, ms;

    *pause_ms = 0;
    if (hook == NULL || sscanf(hook, "%d:%d", &pages, &ms) != 2 || pages < 1 || ms < 0)
        return BACKUP_STEP_PAGES;
    *pause_ms = ms;
    return pages;
}

/* Copy every page of src into the file tmp, in steps; false from progress stops it. */
static enum store_err backup_copy(sqlite3 *src, const char *tmp, store_backup_progress progress,
                                  void *arg, struct store_backup_info *info, char *err,
                                  size_t errlen)
{
    sqlite3 *dst = NULL;
    sqlite3_backup *b;
    enum store_err r = STORE_OK;
    int pause_ms, step = backup_step_pages(&pause_ms);
    int rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

    /* A private file renamed only when whole: no journal, and one fsync at the end. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(dst, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF", NULL, NULL,
                          NULL);
    if (rc != SQLITE_OK) {
        r = backup_sqlite_err(dst, rc, tmp, err, errlen);
        sqlite3_close(dst);
        return r;
    }
    if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
        r = backup_sqlite_err(dst, sqlite3_errcode(dst), tmp, err, errlen);
        sqlite3_close(dst);
        return r;
    }
    do {
        rc = sqlite3_backup_step(b, step);
        info->pages = sqlite3_backup_pagecount(b);
        info->steps++;
        if (rc == SQLITE_OK && pause_ms > 0)
            sqlite3_sleep(pause_ms);
        if (rc == SQLITE_OK && progress != NULL &&
            !progress(info->pages - sqlite3_backup_remaining(b), info->pages, arg)) {
            snprintf(err, errlen, "stopped before the copy was complete");
            r = STORE_ERR_INVALID;
            break;
        }
    } while (rc == SQLITE_OK);
    sqlite3_backup_finish(b);
    if (r == STORE_OK && rc != SQLITE_DONE)
        r = backup_sqlite_err(dst, rc, "copying", err, errlen);
    if (sqlite3_close(dst) != SQLITE_OK && r == STORE_OK)
        r = backup_sqlite_err(NULL, SQLITE_BUSY, tmp, err, errlen);
    return r;
}

/*
 * Put tmp in place as dest. Without replace, a file that appeared at dest
 * meanwhile is kept: RENAME_NOREPLACE where the filesystem has it, else a
 * link, which fails on an existing name just as well.
 */
static enum store_err backup_rename(const char *tmp, const char *dest, bool replace, char *err,
                                    size_t errlen)
{
    if (replace) {
        if (rename(tmp, dest) != 0)
            return backup_errno(dest, err, errlen);
        return STORE_OK;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) == 0)
        return STORE_OK;
    if (errno == EINVAL || errno == ENOSYS) {
        if (link(tmp, dest) == 0) {
            unlink(tmp);
            return STORE_OK;
        }
    }
    if (errno == EEXIST) {
        snprintf(err, errlen, "%s exists (--force replaces it)", dest);
        return STORE_ERR_INVALID;
    }
    return backup_errno(dest, err, errlen);
}

/* The rename is durable once the directory holding dest is synced. */
static void backup_sync_dir(const char *dest)
{
    char *copy = strdup(dest);
    int fd;

    if (copy == NULL)
        return;
    if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Refuse what would lose data before copying anything: an existing dest, or the source itself. */
static enum store_err backup_check_dest(const char *src, const char *dest, bool replace,
                                        char *err, size_t errlen)
{
    struct stat s, d;

    if (lstat(dest, &d) != 0)
        return STORE_OK;
    if (!replace) {
        snprintf(err, errlen, "%s exists (--force replaces it)", dest);
        return STORE_ERR_INVALID;
    }
    if (stat(src, &s) == 0 && stat(dest, &d) == 0 && s.st_dev == d.st_dev && s.st_ino == d.st_ino) {
        snprintf(err, errlen, "%s is the database itself", dest);
        return STORE_ERR_INVALID;
    }
    return STORE_OK;
}

enum store_err store_backup(const char *src_path, const char *dest_path, bool replace,
                            store_backup_progress progress, void *arg,
                            struct store_backup_info *info, char *err, size_t errlen)
{
    char tmp[4096];
    sqlite3 *src = NULL;
    struct stat st;
    int64_t start = clock_mono_ms();
    enum store_err r;
    int fd;

    memset(info, 0, sizeof(*info));
    if ((r = backup_check_dest(src_path, dest_path, replace, err, errlen)) != STORE_OK)
        return r;
    if ((r = backup_open_source(src_path, &src, &info->schema, err, errlen)) != STORE_OK) {
        sqlite3_close(src);
        return r;
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", dest_path) >= sizeof(tmp)) {
        sqlite3_close(src);
        snprintf(err, errlen, "%s: name too long", dest_path);
        return STORE_ERR_INVALID;
    }
    /* mkostemp makes it 0600; the group may read it, as it may the key store. */
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0 || fchmod(fd, BACKUP_MODE) != 0) {
        r = backup_errno(fd < 0 ? dest_path : tmp, err, errlen);
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        sqlite3_close(src);
        return r;
    }
    r = backup_copy(src, tmp, progress, arg, info, err, errlen);
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL); /* ends the read transaction */
    sqlite3_close(src);
    if (r == STORE_OK && (fsync(fd) != 0 || fstat(fd, &st) != 0))
        r = backup_errno(tmp, err, errlen);
    close(fd);
    if (r == STORE_OK)
        r = backup_rename(tmp, dest_path, replace, err, errlen);
    if (r != STORE_OK) {
        unlink(tmp);
        return r;
    }
    backup_sync_dir(dest_path);
    info->bytes = (int64_t)st.st_size;
    info->ms = clock_mono_ms() - start;
    return STORE_OK;
}
