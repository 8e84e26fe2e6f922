/** A proof that does not establish an instance identity; the route answers 401 with the message. */
export class InstanceIdentityError extends Error {
  override name = 'InstanceIdentityError'
}
