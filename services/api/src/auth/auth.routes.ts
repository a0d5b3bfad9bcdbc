import { Router } from 'express';
import { LoginRequest, RegisterRequest } from '@imagegen/shared';
import { respond } from '../http/respond';
import { validate } from '../http/validate';
import type { AuthService } from './auth.service';

export function authRoutes(auth: AuthService): Router {
  const router = Router();

  router.post('/register', validate('body', RegisterRequest), async (req, res) => {
    const result = await auth.register(res.locals.body as RegisterRequest, req.ip);
    respond(res, 201, 'Account created', result);
  });

  router.post('/login', validate('body', LoginRequest), async (req, res) => {
    const { result, created } = await auth.login(res.locals.body as LoginRequest, req.ip);
    respond(res, 200, created ? 'Account created and logged in' : 'Logged in', result);
  });

  return router;
}
