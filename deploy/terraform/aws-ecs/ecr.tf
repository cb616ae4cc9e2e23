module "registry" {
  source       = "../modules/registry"
  name         = var.name
  force_delete = var.force_destroy
}
