#include "cli/privileges.hpp"

#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

namespace tcptrail::cli {

namespace {

struct Ids {
    uid_t uid;
    gid_t gid;
};

// /etc/passwd read directly: getpwnam() would drag NSS into the static build.
std::optional<Ids> lookup(const std::string& user) {
    std::ifstream passwd("/etc/passwd");
    std::string line;
    while (std::getline(passwd, line)) {
        std::istringstream fields(line);
        std::string name, pw, uid, gid;
        if (!std::getline(fields, name, ':') || !std::getline(fields, pw, ':') || !std::getline(fields, uid, ':') ||
            !std::getline(fields, gid, ':')) {
            continue;
        }
        if (name == user || uid == user) {
            return Ids{static_cast<uid_t>(std::stoul(uid)), static_cast<gid_t>(std::stoul(gid))};
        }
    }
    if (!user.empty() && user.find_first_not_of("0123456789") == std::string::npos) {
        auto id = static_cast<uid_t>(std::stoul(user));
        return Ids{id, static_cast<gid_t>(id)};
    }
    return std::nullopt;
}

}  // namespace

std::string drop_privileges(const std::string& user) {
    std::optional<Ids> ids;
    try {
        ids = lookup(user);
    } catch (const std::exception&) {
        ids.reset();
    }
    if (!ids) return fmt::format("--user {}: no such user", user);
    if (ids->uid == 0) return fmt::format("--user {}: that is root; name an unprivileged user", user);
    if (setgroups(0, nullptr) != 0 || setgid(ids->gid) != 0 || setuid(ids->uid) != 0) {
        return fmt::format("cannot switch to user {}: {}", user, std::strerror(errno));
    }
    // setuid() from root to a non-zero uid clears every capability set; make sure.
    if (setuid(0) == 0) return fmt::format("cannot switch to user {}: root could be regained", user);
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return {};
}

std::string set_niceness(std::optional<int> wanted) {
    errno = 0;
    const int current = getpriority(PRIO_PROCESS, 0);  // on Linux: this thread
    if (current == -1 && errno != 0)
        return fmt::format("cannot read the scheduling priority: {}", std::strerror(errno));
    // Unset: whoever started tcptrail at another niceness chose it.
    const int nice = wanted.value_or(current == 0 ? kDefaultNiceness : current);
    if (nice == current) return "";
    if (setpriority(PRIO_PROCESS, 0, nice) != 0) {
        const int err = errno;
        return fmt::format("cannot set niceness {} ({}{}): running at {}", nice, std::strerror(err),
                           err == EACCES || err == EPERM ? ", needs CAP_SYS_NICE" : "", current);
    }
    return "";
}

}  // namespace tcptrail::cli
