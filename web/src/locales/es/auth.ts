import type en from '../en/auth';
import type { Messages } from '../types';

export default {
  signIn: {
    title: 'Inicia sesión en {{brand}}',
    email: 'Correo electrónico',
    password: 'Contraseña',
    submit: 'Iniciar sesión',
    passkey: 'Usar una llave de acceso',
    magicLink: 'Envíame un enlace',
    forgot: '¿Olvidaste tu contraseña?',
    noAccount: '¿Aún no tienes cuenta?',
    signUp: 'Crear una cuenta',
    or: 'o',
    magicSent: 'Si hay una cuenta con {{email}}, le hemos enviado un enlace para iniciar sesión. Funciona una vez, durante 15 minutos.',
    passkeyCancelled: 'Se canceló el inicio de sesión con llave de acceso.',
  },
  errors: {
    invalid_credentials: 'El correo electrónico o la contraseña no son correctos.',
    account_locked: 'Demasiados intentos fallidos: esta cuenta está bloqueada. Inténtalo de nuevo en {{minutes}} minutos o restablece tu contraseña.',
    account_locked_soon: 'Demasiados intentos fallidos: esta cuenta está bloqueada un momento. Inténtalo de nuevo enseguida o restablece tu contraseña.',
    email_not_verified: 'Verifica primero tu correo electrónico: te hemos enviado un enlace.',
    passkey_failed: 'No se pudo usar esa llave de acceso. Inténtalo de nuevo o inicia sesión de otra forma.',
  },
} satisfies Messages<typeof en>;
