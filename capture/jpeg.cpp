#include "jpeg.h"

#include <cstring>
#include <exception>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

int autoclipd_imdecode(const void* buf, int len, int flags, void* dst, char* err, int errlen) {
    try {
        cv::Mat raw(1, len, CV_8UC1, const_cast<void*>(buf));
        cv::Mat* out = static_cast<cv::Mat*>(dst);
        // imdecode leaves dst as it was when no decoder takes the bytes or
        // the header does not parse: released first, a bad packet can never
        // hand out the previous frame again. (glibc reuses the freed block
        // for the next frame of the same size.)
        out->release();
        cv::imdecode(raw, flags, out);
        return out->empty() ? 0 : 1;
    } catch (const std::exception& e) {
        if (errlen > 0) {
            std::strncpy(err, e.what(), errlen - 1);
            err[errlen - 1] = 0;
        }
        return -1;
    }
}
