#include "eye.h"

#include "board.h"

// Coefficients in centidegrees per ADC count, times 4096 (Q12); offsets in centidegrees times 4096.
#define Q 4096.0f
#define PER_COUNT (100.0f * (float)ADC_VREF_MV / 1000.0f / 1023.0f)  // centidegrees per count at 1 deg/V
#define REACH 30000  // centidegrees: distances beyond 300 degrees are clamped before squaring

// Until the host sends CAL and WIN: 0..5 V spans -10..+10 degrees on each axis, the window is 2 degrees
// around the centre.
static int32_t map[6] = {(int32_t)(4.0f * PER_COUNT * Q), 0, (int32_t)(-10.0f * 100.0f * Q),
                         0, (int32_t)(4.0f * PER_COUNT * Q), (int32_t)(-10.0f * 100.0f * Q)};
static int32_t centre_x, centre_y, radius2 = 200L * 200L;
static uint8_t hold = 1;
static int8_t state = -1;
static uint8_t against;  // samples in a row that disagree with the state

static int32_t round_q(float v) { return (int32_t)(v < 0 ? v - 0.5f : v + 0.5f); }

uint8_t eye_set_map(const float *c) {
  for (uint8_t i = 0; i < 6; i++) {
    float limit = i % 3 == 2 ? EYE_OFFSET_MAX : EYE_GAIN_MAX;
    if (c[i] > limit || c[i] < -limit) return 0;
  }
  for (uint8_t i = 0; i < 6; i++) map[i] = round_q(c[i] * (i % 3 == 2 ? 100.0f * Q : PER_COUNT * Q));
  return 1;
}

void eye_to_centideg(uint16_t x_counts, uint16_t y_counts, int32_t *x, int32_t *y) {
  int32_t u = x_counts, v = y_counts;
  *x = (map[0] * u + map[1] * v + map[2] + 2048) >> 12;
  *y = (map[3] * u + map[4] * v + map[5] + 2048) >> 12;
}

void eye_set_window(float cx, float cy, float radius, uint8_t samples) {
  centre_x = round_q(cx * 100.0f);
  centre_y = round_q(cy * 100.0f);
  int32_t r = round_q(radius * 100.0f);
  if (r > REACH) r = REACH;
  radius2 = r * r;
  hold = samples ? samples : 1;
}

static int32_t clamp(int32_t d) { return d > REACH ? REACH : d < -REACH ? -REACH : d; }

uint8_t eye_inside(int32_t x, int32_t y) {
  int32_t dx = clamp(x - centre_x), dy = clamp(y - centre_y);
  return dx * dx + dy * dy <= radius2;
}

int8_t eye_fixation_update(uint8_t inside) {
  if (state < 0 || (uint8_t)state == inside) {
    against = 0;
    if (state >= 0) return -1;
    state = (int8_t)inside;
    return state;
  }
  if (++against < hold) return -1;
  against = 0;
  state = (int8_t)inside;
  return state;
}

int8_t eye_fixation(void) { return state; }
