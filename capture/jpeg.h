#ifndef AUTOCLIPD_CAPTURE_JPEG_H
#define AUTOCLIPD_CAPTURE_JPEG_H

#ifdef __cplusplus
extern "C" {
#endif

// autoclipd_imdecode decodes the encoded image buf[0:len] into dst (a
// cv::Mat*), released first so that a failure leaves it empty. flags are
// cv::ImreadModes (IMREAD_REDUCED_COLOR_2 etc.). It returns 1 on success, 0
// when OpenCV could not decode the bytes, -1 when OpenCV threw (err then
// holds the message, NUL-terminated, cut to errlen).
int autoclipd_imdecode(const void* buf, int len, int flags, void* dst, char* err, int errlen);

#ifdef __cplusplus
}
#endif

#endif
