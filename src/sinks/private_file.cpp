#include "sinks/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

namespace tcptrail::sinks {

int create_private_file(const std::string& path, CreateStep& failed) {
    const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        failed = CreateStep::Create;
        return -errno;
    }
    struct stat st {};
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) {
        const int err = errno;
        ::close(fd);
        failed = CreateStep::Restrict;
        return -err;
    }
    return fd;
}

int write_all(int fd, const void* data, size_t len, size_t& done) {
    const auto* p = static_cast<const char*>(data);
    done = 0;
    while (done < len) {
        ssize_t n = ::write(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        done += static_cast<size_t>(n);
    }
    return 0;
}

}  // namespace tcptrail::sinks
