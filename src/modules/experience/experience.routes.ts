import { Type } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import { Nullable } from '../../platform/http/schemas.js';

/** The locales every hosted page is translated into. */
export const PAGE_LOCALES = ['en', 'es'] as const;

export interface ExperienceDeps {
  brand: { name: string; color: string; logoUrl?: string };
  /** Origins besides this server's that `return_to` may lead to. */
  redirectOrigins: readonly string[];
  /** Whether sign-in needs a verified address (ALLOW_UNVERIFIED_LOGIN=false). */
  verifiedEmailRequired: boolean;
  /** Who must enrol a second factor: MFA_REQUIRED. */
  mfaRequired: 'off' | 'all' | 'admins';
}

const Experience = Type.Object({
  brand: Type.Object({ name: Type.String(), color: Type.String({ description: '#rrggbb' }), logo_url: Nullable(Type.String()) }),
  locales: Type.Array(Type.String(), { description: 'Languages the hosted pages speak' }),
  redirect_origins: Type.Array(Type.String(), { description: 'Origins besides this server\'s that `return_to` may lead to after sign-in' }),
  verified_email_required: Type.Boolean(),
  mfa_required: Type.Union([Type.Literal('off'), Type.Literal('all'), Type.Literal('admins')], { description: 'Who must enrol a second factor' }),
});

/** Black or white, whichever reads better on `hex` (WCAG relative luminance). */
export function contrastOn(hex: string): '#000000' | '#ffffff' {
  const channel = (i: number): number => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) ? '#000000' : '#ffffff';
}

/**
 * What the hosted pages need to draw themselves before anyone signs in (like Logto's sign-in
 * experience): the brand, the languages, where `return_to` may go, and the sign-in rules; and
 * `/branding.css`, the brand colour as CSS variables (no inline styles under the pages' CSP).
 */
export function experienceRoutes(server: HttpServer, deps: ExperienceDeps): void {
  const body = {
    brand: { name: deps.brand.name, color: deps.brand.color, logo_url: deps.brand.logoUrl ?? null },
    locales: [...PAGE_LOCALES],
    redirect_origins: [...deps.redirectOrigins],
    verified_email_required: deps.verifiedEmailRequired,
    mfa_required: deps.mfaRequired,
  };
  server.get(
    '/v1/experience',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['experience'],
        summary: 'What the hosted pages need to draw themselves: brand, languages, redirect origins, sign-in rules',
        response: { 200: Experience },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=60');
      return body;
    },
  );
  const css = `:root {\n  --brand: ${deps.brand.color};\n  --brand-contrast: ${contrastOn(deps.brand.color)};\n}\n`;
  server.get('/branding.css', { schema: { hide: true }, config: { rateLimit: false } }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(css),
  );
}
