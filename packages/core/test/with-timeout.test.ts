import { withTimeout } from '../src/with-timeout';

const late = () => new Error('late');

describe('withTimeout', () => {
  test('when the work settles first, then its value is returned and no timer is left running', async () => {
    jest.useFakeTimers();
    try {
      await expect(withTimeout(Promise.resolve(7), 1_000, late)).resolves.toBe(7);
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  test('when the work fails first, then its own error is passed on', async () => {
    const failure = new Error('refused');
    await expect(withTimeout(Promise.reject(failure), 1_000, late)).rejects.toBe(failure);
  });

  test('when the time passes first, then it rejects with the timeout error', async () => {
    const error = new Error('timed out');
    await expect(withTimeout(new Promise<never>(() => undefined), 10, () => error)).rejects.toBe(error);
  });
});
