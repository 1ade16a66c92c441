import type { BuilderWords, FactRow, Texts } from './communications.templates.defaults.js';

/* The system's messages in Spanish (same variables, links and codes as the English ones). */

export const SPANISH_WORDS: BuilderWords = { buttonFallback: 'Si el botón no funciona, copia este enlace en tu navegador:' };

const url = (path: string, token?: string): string => (token ? `{{url "${path}" ${token}}}` : `{{url "${path}"}}`);
const AT: FactRow = ['Cuándo', '{{when at}}', 'at'];
const IP: FactRow = ['Dirección IP', '{{truncate ip 64}}', 'ip'];
const DEVICE: FactRow = ['Dispositivo', '{{truncate device 200}}', 'device'];
const ORG = '{{or (truncate org_name 100) "una organización"}}';
const INVITER =
  '{{#if inviter_name}}{{truncate inviter_name 100}}{{#if inviter_email}} ({{truncate inviter_email 254}}){{/if}}{{else}}{{or (truncate inviter_email 254) "Alguien"}}{{/if}}';
const PURPOSE =
  '{{#if (eq purpose "login")}}Usa este código para iniciar sesión en {{product_name}}:' +
  '{{else if (eq purpose "verify_email")}}Usa este código para verificar tu dirección de correo:' +
  '{{else if (eq purpose "verify_phone")}}Usa este código para verificar tu número de teléfono:' +
  '{{else if (eq purpose "password_reset")}}Usa este código para restablecer tu contraseña:' +
  '{{else if (eq purpose "transaction")}}Usa este código para confirmar tu operación:' +
  '{{else}}Usa este código para confirmar que eres tú:{{/if}}';

export const SPANISH: Texts = {
  'accounts.verify_email': {
    email: {
      subject: 'Verifica tu dirección de correo para {{product_name}}',
      heading: '{{#if name}}Hola, {{truncate name 80}}: verifica tu dirección de correo{{else}}Verifica tu dirección de correo{{/if}}',
      blocks: [
        ['p', 'Para terminar de configurar tu cuenta de {{product_name}}, confirma que esta dirección es tuya. Introduce este código:'],
        ['code', '{{code}}'],
        ['action', 'Verificar la dirección de correo', url('/verify-email', 'token')],
        ['p', 'El código y el enlace caducan en {{plural expires_hours "hora"}}.'],
        ['note', 'Si no creaste una cuenta de {{product_name}}, puedes ignorar este correo.'],
      ],
    },
    sms: `Tu código de verificación de {{product_name}} es {{code}}, o abre ${url('/verify-email', 'token')} (caduca en {{plural expires_hours "hora"}}).`,
    in_app: { title: 'Verifica tu dirección de correo', text: 'Te enviamos un código y un enlace a tu dirección de correo para verificarla. Caducan en {{plural expires_hours "hora"}}.' },
  },
  'accounts.signup_existing': {
    email: {
      subject: 'Intento de registro con tu cuenta de {{product_name}}',
      heading: 'Ya tienes una cuenta',
      blocks: [
        ['p', 'Alguien (quizá tú) intentó crear una cuenta de {{product_name}} con esta dirección de correo. Ya tienes una cuenta con esta dirección, así que no se creó ninguna cuenta nueva.'],
        ['action', 'Iniciar sesión', url('/sign-in')],
        ['link', '¿Olvidaste tu contraseña?', 'Restablécela aquí', url('/forgot-password')],
        ['note', 'Si no fuiste tú, puedes ignorar este correo: tu cuenta no ha cambiado.'],
      ],
    },
  },
  'accounts.magic_link': {
    email: {
      subject: 'Tu enlace de inicio de sesión para {{product_name}}',
      heading: 'Inicia sesión en {{product_name}}',
      blocks: [
        ['p', 'Usa este enlace para iniciar sesión en {{product_name}}. Funciona una sola vez y caduca en {{plural expires_minutes "minuto"}}.'],
        ['action', 'Iniciar sesión en {{product_name}}', url('/magic-link', 'token')],
        ['note', 'Si no pediste este enlace, puedes ignorar este correo. No lo reenvíes: cualquiera que tenga el enlace puede iniciar sesión como tú.'],
      ],
    },
    sms: `Inicia sesión en {{product_name}}: ${url('/magic-link', 'token')} (un solo uso, caduca en {{plural expires_minutes "minuto"}}). No compartas este enlace.`,
    in_app: { title: 'Enlace de inicio de sesión solicitado', text: 'Se pidió un enlace de inicio de sesión para tu cuenta. Si no fuiste tú, puedes ignorarlo: el enlace caduca en {{plural expires_minutes "minuto"}}.' },
  },
  'accounts.password_reset': {
    email: {
      subject: 'Restablece tu contraseña de {{product_name}}',
      heading: 'Restablece tu contraseña',
      blocks: [
        ['p', 'Recibimos una solicitud para restablecer la contraseña de tu cuenta de {{product_name}}. El enlace funciona una sola vez y caduca en {{plural expires_minutes "minuto"}}.'],
        ['action', 'Elegir una contraseña nueva', url('/reset-password', 'token')],
        ['note', 'Si no pediste restablecer tu contraseña, puedes ignorar este correo: tu contraseña no cambiará.'],
      ],
    },
    sms: `Restablece tu contraseña de {{product_name}}: ${url('/reset-password', 'token')} (un solo uso, caduca en {{plural expires_minutes "minuto"}}). ¿No lo pediste? Ignora este mensaje.`,
    in_app: { title: 'Restablecimiento de contraseña solicitado', text: 'Se pidió restablecer la contraseña de tu cuenta. Si no fuiste tú, puedes ignorarlo: tu contraseña no cambiará.' },
  },
  'accounts.password_changed': {
    email: {
      subject: 'Se cambió tu contraseña de {{product_name}}',
      heading: 'Se cambió tu contraseña',
      blocks: [
        ['p', 'Se acaba de cambiar la contraseña de tu cuenta de {{product_name}}.'],
        ['facts', [AT, IP, DEVICE]],
        ['p', 'Si fuiste tú, no tienes que hacer nada más.'],
        ['link', 'Si no fuiste tú, puede que otra persona tenga acceso a tu cuenta.', 'Restablece tu contraseña ahora', url('/forgot-password')],
      ],
    },
    sms: `Se cambió tu contraseña de {{product_name}}{{#if at}} el {{when at}}{{/if}}. ¿No fuiste tú? Restablécela ahora: ${url('/forgot-password')}`,
    in_app: { title: 'Se cambió tu contraseña', text: 'Se cambió la contraseña de tu cuenta{{#if at}} el {{when at}}{{/if}}. Si no fuiste tú, restablece tu contraseña ahora.' },
  },
  'accounts.account_locked': {
    email: {
      subject: 'Tu cuenta de {{product_name}} está bloqueada temporalmente',
      heading: 'Tu cuenta está bloqueada temporalmente',
      blocks: [
        ['p', 'Hubo demasiados intentos fallidos de iniciar sesión en tu cuenta de {{product_name}}, así que el inicio de sesión queda bloqueado durante {{plural minutes "minuto"}}.'],
        ['facts', [['Bloqueada hasta', '{{when until}}', 'until']]],
        ['p', 'Si esos intentos no fueron tuyos, puede que alguien intente adivinar tu contraseña. Restablecerla ahora mantiene tu cuenta segura:'],
        ['action', 'Restablecer tu contraseña', url('/forgot-password')],
      ],
    },
    sms: `Demasiados intentos fallidos: tu cuenta de {{product_name}} está bloqueada durante {{plural minutes "minuto"}}. ¿No fuiste tú? Restablece tu contraseña: ${url('/forgot-password')}`,
    in_app: { title: 'Tu cuenta se bloqueó temporalmente', text: 'Hubo demasiados intentos fallidos de iniciar sesión en tu cuenta, así que el inicio de sesión se bloqueó durante {{plural minutes "minuto"}}. Si no fueron tuyos, restablece tu contraseña.' },
  },
  'accounts.new_sign_in': {
    email: {
      subject: 'Nuevo inicio de sesión en tu cuenta de {{product_name}}',
      heading: 'Nuevo inicio de sesión en tu cuenta',
      blocks: [
        ['p', 'Se acaba de iniciar sesión en tu cuenta de {{product_name}} desde un dispositivo que no habíamos visto antes.'],
        ['facts', [AT, IP, DEVICE]],
        ['p', 'Si fuiste tú, no tienes que hacer nada más. Si no, revisa tus sesiones activas, cierra las que no reconozcas y cambia tu contraseña:'],
        ['action', 'Revisar tus sesiones', url('/account/sessions')],
        ['link', '¿Necesitas cambiar tu contraseña?', 'Restablécela aquí', url('/forgot-password')],
      ],
    },
    sms: `Nuevo inicio de sesión en tu cuenta de {{product_name}}{{#if device}} desde {{truncate device 60}}{{/if}}. ¿No fuiste tú? Revisa tus sesiones: ${url('/account/sessions')}`,
    in_app: { title: 'Nuevo inicio de sesión en tu cuenta', text: 'Se inició sesión en tu cuenta desde un dispositivo nuevo{{#if device}} ({{truncate device 100}}){{/if}}{{#if at}} el {{when at}}{{/if}}. Si no fuiste tú, revisa tus sesiones y cambia tu contraseña.' },
  },
  'accounts.email_change': {
    email: {
      subject: 'Confirma tu nueva dirección de correo para {{product_name}}',
      heading: 'Confirma tu nueva dirección de correo',
      blocks: [
        ['p', 'Se pidió usar {{truncate new_email 320}} como dirección de correo de una cuenta de {{product_name}}. Para confirmarlo, introduce este código:'],
        ['code', '{{code}}'],
        ['action', 'Confirmar la dirección de correo', url('/verify-email', 'token')],
        ['p', 'El código y el enlace caducan en {{plural expires_hours "hora"}}.'],
        ['note', 'Si no lo pediste, puedes ignorar este correo: la dirección no cambiará.'],
      ],
    },
  },
  'accounts.email_changed': {
    email: {
      subject: 'Se cambió la dirección de correo de tu cuenta de {{product_name}}',
      heading: 'Se cambió tu dirección de correo',
      blocks: [
        ['p', 'Se cambió la dirección de correo de tu cuenta de {{product_name}}. A partir de ahora, el correo de la cuenta va a la nueva dirección y esta dirección ya no sirve para iniciar sesión.'],
        ['facts', [['Nueva dirección', '{{truncate new_email 320}}', 'new_email'], AT]],
        ['p', 'Si no hiciste este cambio, puede que otra persona tenga acceso a tu cuenta: contacta con el soporte de {{product_name}} de inmediato.'],
      ],
    },
  },
  'mfa.backup_code_used': {
    email: {
      subject: 'Se usó un código de respaldo de {{product_name}}',
      heading: 'Se usó un código de respaldo',
      blocks: [
        ['p', 'Se acaba de usar uno de los códigos de respaldo de tu cuenta de {{product_name}} para iniciar sesión. Cada código funciona una sola vez.'],
        ['facts', [AT, IP, ['Códigos restantes', '{{remaining}}']]],
        ['link', 'Si no fuiste tú, protege tu cuenta ahora.', 'Restablece tu contraseña', url('/forgot-password')],
      ],
    },
    sms: `Se acaba de usar un código de respaldo de {{product_name}} para iniciar sesión (quedan {{remaining}}). ¿No fuiste tú? Restablece tu contraseña: ${url('/forgot-password')}`,
    in_app: { title: 'Se usó un código de respaldo', text: 'Se usó uno de tus códigos de respaldo para iniciar sesión{{#if at}} el {{when at}}{{/if}}; quedan {{remaining}}. Si no fuiste tú, restablece tu contraseña ahora.' },
  },
  'mfa.recovery': {
    email: {
      subject: 'Recupera el acceso a tu cuenta de {{product_name}}',
      heading: '¿Perdiste tu segundo factor?',
      blocks: [
        ['p', 'Alguien (esperamos que tú) pidió recuperar una cuenta protegida con un segundo factor. El enlace te permite iniciar sesión una vez con tu contraseña, sin el segundo factor, y funciona durante {{plural expires_minutes "minuto"}}.'],
        ['p', 'Al usarlo se eliminan tu aplicación de autenticación, tus códigos de respaldo y tus llaves de acceso: registrarás un segundo factor nuevo justo después de iniciar sesión.'],
        ['action', 'Recuperar mi cuenta', url('/mfa/recover', 'token')],
        ['note', 'Si no lo pediste, ignora este correo: nada cambia a menos que se use el enlace.'],
      ],
    },
    sms: `Recupera tu cuenta de {{product_name}}: ${url('/mfa/recover', 'token')} (caduca en {{plural expires_minutes "minuto"}}; elimina tus segundos factores). ¿No lo pediste? Ignora este mensaje.`,
    in_app: { title: 'Recuperación de cuenta solicitada', text: 'Alguien pidió recuperar tu cuenta sin su segundo factor. Si no fuiste tú, ignóralo: nada cambia a menos que se use el enlace enviado por correo.' },
  },
  'mfa.recovery_used': {
    email: {
      subject: 'Se restableció tu segundo factor de {{product_name}}',
      heading: 'Se restableció tu segundo factor',
      blocks: [
        ['p', 'Tu cuenta de {{product_name}} se recuperó con un enlace enviado por correo: se eliminaron sus segundos factores y hay que registrar uno nuevo.'],
        ['facts', [AT, IP]],
        ['link', 'Si no fuiste tú, alguien tiene acceso a tu correo y a tu contraseña.', 'Restablece tu contraseña ahora', url('/forgot-password')],
      ],
    },
    sms: `La recuperación de cuenta eliminó tus segundos factores de {{product_name}}. ¿No fuiste tú? Restablece tu contraseña ahora: ${url('/forgot-password')}`,
    in_app: { title: 'Se restableció tu segundo factor', text: 'Tu cuenta se recuperó con un enlace enviado por correo y se eliminaron sus segundos factores. Si no fuiste tú, restablece tu contraseña ahora.' },
  },
  'orgs.invitation': {
    email: {
      subject: `Te invitaron a unirte a ${ORG} en {{product_name}}`,
      heading: `Únete a ${ORG}`,
      blocks: [
        ['p', `${INVITER} te invitó a unirte a ${ORG} en {{product_name}} con el rol {{role}}.`],
        ['facts', [['Organización', ORG], ['Rol', '{{role}}'], ['Invitación de', INVITER], ['Caduca', '{{when expires_at}}', 'expires_at']]],
        ['action', 'Aceptar la invitación', url('/invitations/accept', 'token')],
        ['note', '¿Aún no tienes cuenta? Regístrate con esta dirección de correo y vuelve a abrir el enlace. El enlace funciona una sola vez, hasta el {{when expires_at}}. Si no esperabas esta invitación, ignora este correo.'],
      ],
    },
  },
  'otp.code': {
    email: {
      subject: 'Tu código de verificación de {{product_name}}',
      heading: 'Tu código de verificación',
      blocks: [
        ['p', PURPOSE],
        ['code', '{{code}}'],
        ['p', 'El código funciona una sola vez y caduca en {{plural expires_minutes "minuto"}}.'],
        ['note', 'No compartas nunca este código: {{product_name}} nunca te lo pedirá. Si no pediste un código, puedes ignorar este correo.'],
      ],
    },
    sms: '{{code}} es tu código de verificación de {{product_name}}. Caduca en {{plural expires_minutes "minuto"}}. No lo compartas nunca.',
    in_app: { title: 'Código de verificación solicitado', text: 'Se pidió un código de verificación para tu cuenta. Si no fuiste tú, ignóralo: el código caduca en {{plural expires_minutes "minuto"}}.' },
  },
  'privacy.export_ready': {
    email: {
      subject: 'Tu exportación de datos de {{product_name}} está lista',
      heading: 'Tu exportación de datos está lista',
      blocks: [
        ['p', 'La exportación de los datos de tu cuenta de {{product_name}} que pediste está lista para descargar.'],
        ['action', 'Descargar tus datos', '{{href url}}'],
        ['p', 'El enlace funciona hasta el {{when expires_at}}.'],
        ['note', 'Si no pediste una exportación, puede que otra persona tenga acceso a tu cuenta: cambia tu contraseña.'],
      ],
    },
  },
  'privacy.compliance_alert': {
    email: {
      subject: 'Alerta de cumplimiento de {{product_name}}: {{truncate title 120}}',
      heading: '{{truncate title 200}}',
      blocks: [
        ['p', '{{detail}}'],
        ['note', 'Recibes esta alerta porque eres administrador de la plataforma {{product_name}}.'],
      ],
    },
  },
  'communications.test': {
    email: {
      subject: 'Mensaje de prueba de {{product_name}}',
      heading: 'Mensaje de prueba',
      blocks: [
        ['p', 'Un administrador de la plataforma envió este mensaje para comprobar la configuración de comunicaciones de {{product_name}}. Si puedes leerlo, el canal funciona.'],
        ['note', 'No tienes que hacer nada más.'],
      ],
    },
    sms: 'Mensaje de prueba de {{product_name}}: si puedes leerlo, el canal SMS funciona.',
    in_app: { title: 'Mensaje de prueba', text: 'Un administrador de la plataforma envió esta notificación de prueba desde {{product_name}}: si puedes leerla, las notificaciones en la aplicación funcionan.' },
    push: { title: 'Mensaje de prueba', text: 'Un administrador de la plataforma envió esta notificación de prueba desde {{product_name}}: si puedes leerla, las notificaciones push funcionan.' },
  },
  'webhooks.endpoint_disabled': {
    email: {
      subject: 'Se desactivó un endpoint de webhook de tu organización en {{product_name}}',
      heading: 'Se desactivó un endpoint de webhook',
      blocks: [
        ['p', 'Las entregas a uno de los endpoints de webhook de tu organización fallaban una y otra vez, así que {{product_name}} lo desactivó. No se le enviarán eventos hasta que se vuelva a activar.'],
        ['facts', [['Endpoint', '{{endpoint_id}}'], ['URL', '{{truncate url 300}}', 'url'], ['Motivo', '{{truncate reason 300}}', 'reason']]],
        ['p', 'Comprueba que el endpoint responde y vuelve a activarlo en la configuración de webhooks de la organización.'],
      ],
    },
    in_app: { title: 'Se desactivó un endpoint de webhook', text: 'Se desactivó el endpoint de webhook {{truncate url 200}}{{#if reason}}: {{truncate reason 200}}{{/if}}. Vuelve a activarlo cuando responda.' },
  },
};
