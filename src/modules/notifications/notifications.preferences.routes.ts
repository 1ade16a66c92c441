import { clientOf } from '../../platform/http/client.js';
import { Type, type TObject, type TBoolean, type TOptional } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { problems } from '../../platform/http/schemas.js';
import { MESSAGE_CATEGORIES, type MessageCategory } from '../../platform/mail/index.js';

import { CHANNELS, type Channel } from '../communications/index.js';
import type { Preferences, PreferencesPatch, PreferencesService } from './notifications.preferences.service.js';

const channelsOf = (describe: string): TObject<Record<Channel, TBoolean>> =>
  Type.Object(Object.fromEntries(CHANNELS.map((channel) => [channel, Type.Boolean()])) as Record<Channel, TBoolean>, { additionalProperties: false, description: describe });

const channelsPatch = (): TOptional<TObject<Record<Channel, TOptional<TBoolean>>>> =>
  Type.Optional(
    Type.Object(Object.fromEntries(CHANNELS.map((channel) => [channel, Type.Optional(Type.Boolean())])) as Record<Channel, TOptional<TBoolean>>, {
      additionalProperties: false,
      minProperties: 1,
    }),
  );

const describeCategory = (category: MessageCategory): string =>
  category === 'security' ? 'Sign-in alerts, verification, password resets: always on' : `${category} messages, per channel`;

export const NotificationPreferences = Type.Object(
  {
    categories: Type.Object(
      Object.fromEntries(MESSAGE_CATEGORIES.map((category) => [category, channelsOf(describeCategory(category))])) as Record<MessageCategory, TObject<Record<Channel, TBoolean>>>,
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const PreferencesUpdate = Type.Object(
  {
    categories: Type.Object(
      Object.fromEntries(MESSAGE_CATEGORIES.map((category) => [category, channelsPatch()])) as Record<MessageCategory, ReturnType<typeof channelsPatch>>,
      { additionalProperties: false, minProperties: 1 },
    ),
  },
  { additionalProperties: false },
);

const body = (preferences: Preferences) => ({ categories: preferences });

/** `GET/PUT /v1/me/notification-preferences`: which categories of message reach me on which channel. */
export function preferenceRoutes(server: HttpServer, deps: { preferences: PreferencesService; guards: Guards }): void {
  const { preferences, guards } = deps;
  const security = [{ bearer: [] }];

  server.get(
    '/v1/me/notification-preferences',
    {
      preValidation: guards.authenticate,
      schema: {
        tags: ['notifications'],
        summary: 'My notification preferences: every category and channel, on or off (on unless turned off; security always on)',
        security,
        response: { 200: NotificationPreferences, ...problems(401, 403) },
      },
    },
    async (request) => body(await preferences.get(request.auth!.userId)),
  );

  server.put(
    '/v1/me/notification-preferences',
    {
      preValidation: guards.authenticate,
      schema: {
        tags: ['notifications'],
        summary: 'Change my notification preferences',
        description:
          'Merges: categories and channels the body does not name keep their current value, so both the whole document (as GET returns it) and a part such as ' +
          '`{"categories": {"marketing": {"email": false}}}` are accepted. Any `security` channel set to false: 422 security_required, nothing changed. Answers the whole new state.',
        security,
        body: PreferencesUpdate,
        response: { 200: NotificationPreferences, ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => body(await preferences.update(request.auth!.userId, request.body.categories as PreferencesPatch, clientOf(request))),
  );
}
